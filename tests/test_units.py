"""Pure units: parsing, formatting and state records (no runc here)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import io
import json
import logging
import os
import re
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import attrs
import pytest
import trio

from containerd_trio import checkpoints, criu, criu_stats, host, mounts, timestamps
from containerd_trio.api import schemas  # registers the request hooks on the shared converter
from containerd_trio.appendfile import AppendFile
from containerd_trio.client import interactive
from containerd_trio.client.http import Client
from containerd_trio.client.output import Output
from containerd_trio.config import Listen, parse_args
from containerd_trio.convert import dump_json, structure, unstructure
from containerd_trio.criu_progress import CriuProgress
from containerd_trio.errors import InvalidRequest, NotFound
from containerd_trio.keeper._wire import MAX_FDS, MAX_MESSAGE, encode, pair, receive_fds
from containerd_trio.keeperlink import KeeperLink, SpawnResult
from containerd_trio.logfmt import LogfmtFormatter
from containerd_trio.migration.model import MIGRATION_LABEL
from containerd_trio.migration.outgoing import Verdict, consult, verdict
from containerd_trio.migration.target import TargetError
from containerd_trio.model import (
    ContainerInfo,
    ContainerState,
    MemoryResources,
    PidsResources,
    ProcessInfo,
    Resources,
    RestartPolicy,
    StartProcess,
    Status,
    User,
    UserSpec,
)
from containerd_trio.records import ContainerRecord, ProcessStart, RecordJournal
from containerd_trio.runtime import CriuOptions, Runc, RuncError, release_criu_root
from containerd_trio.validation import check_id, parse_signal

from .helpers import TargetHost
from .test_chaos import first_out_of_place


def test_timestamps_round_trip() -> None:
    ns = 1_795_000_000_123_456_789
    text = timestamps.format_ns(ns)
    assert text.endswith(".123456789+00:00")
    assert timestamps.parse_ns(text) == ns
    assert timestamps.parse_ns("2015-12-04T15:09:14.915868934-08:00") == timestamps.parse_ns(
        "2015-12-04T23:09:14.915868934Z"
    )
    assert timestamps.parse_ns("2026-01-01T00:00:00Z") == 1_767_225_600 * 10**9
    for bad in ("", "2026-01-01", "2026-01-01T00:00:00", "now", "2026-02-30T00:00:00Z"):
        with pytest.raises(ValueError, match="is not"):
            timestamps.parse_ns(bad)


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        # docker's Unix time, its fraction a decimal one; 0 the epoch, not a duration
        ("1700000000", "2023-11-14T22:13:20.000000000+00:00"),
        ("1700000000.5", "2023-11-14T22:13:20.500000000+00:00"),
        ("0", "1970-01-01T00:00:00.000000000+00:00"),
        ("99999999999999999999", "9999-12-31T23:59:59.999999999+00:00"),
        # docker's shorter timestamps with an offset
        ("2026-11-28Z", "2026-11-28T00:00:00.000000000+00:00"),
        ("2026-11-28T15z", "2026-11-28T15:00:00.000000000+00:00"),
        ("2026-11-28T15:09+01:00", "2026-11-28T14:09:00.000000000+00:00"),
        # the client's zone: JST-9 below
        ("2026-11-28", "2026-11-27T15:00:00.000000000+00:00"),
        ("2026-11-28T09", "2026-11-28T00:00:00.000000000+00:00"),
        ("2026-11-28t09:30", "2026-11-28T00:30:00.000000000+00:00"),
        ("2026-11-28T09:30:15.25", "2026-11-28T00:30:15.250000000+00:00"),
        # as typed: the daemon reads it
        ("2026-11-28T09:30:15Z", "2026-11-28T09:30:15Z"),
    ],
)
def test_ctr_trio_takes_the_times_docker_s_client_takes(
    typed: str, sent: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Unix time and a timestamp cut after its date, hour or minutes were usage errors
    (``--since 1700000000``, ``--since 2026-11-28``): docker's client takes both, a
    timestamp without an offset in the client's time zone."""
    monkeypatch.setenv("TZ", "JST-9")
    time.tzset()
    try:
        assert timestamps.client_moment(typed) == sent
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("2026-13-01", "'2026-13-01' is not a valid date and time: month must be in 1..12"),
        ("2026-11-28T24", "'2026-11-28T24' is not a valid date and time: hour must be in 0..23"),
        ("2026-11-28T15+24:00", "'2026-11-28T15+24:00' is not a valid date and time: its UTC"),
        ("2026-11-28T1", "'2026-11-28T1' is not an RFC 3339 timestamp"),
        ("1.5.2", "'1.5.2' is not an RFC 3339 timestamp"),
        ("-1700000000", "nor a Unix time such as 1700000000.5"),
    ],
)
def test_ctr_trio_refuses_a_time_in_none_of_its_forms(typed: str, error: str) -> None:
    with pytest.raises(ValueError, match=re.escape(error)):
        timestamps.client_moment(typed)


def _record(container_id: str, status: Status = Status.RUNNING) -> ContainerRecord:
    info = ContainerInfo(
        id=container_id,
        bundle_path="/b",
        state=ContainerState(status, 3 if status is Status.STOPPED else None),
        processes=[ProcessInfo(7, ["sh"], User(1, 2, [3]), False, ["A=1"], "/")],
        created_at=timestamps.format_ns(len(container_id)),
        labels={"k": "v"},
    )
    return ContainerRecord(info, [ProcessStart(7, 99)])


def test_journal_line_is_the_records_encoding(tmp_path: Path) -> None:
    """put_encoded writes a record from the container's encoded view: the same line as the
    record's own encoding, for a record with and without a delete under way (and its grace's
    end), and with the
    stopped container a start replaces, and a restore's cgroup of its own, and a change of
    limits under way, and a restart due, and a stopped container's init, and the CPU limits
    its user set, and a run its user stopped, and whose a delete of one with autoRemove is."""
    replaced = _record("c", Status.STOPPED).container
    change = Resources(memory=MemoryResources(limit=64 << 20), pids=PidsResources(limit=-1))
    cases = (
        (False, None, None, None, None, None, None, None, None, None, None),
        (True, None, None, None, None, None, None, None, None, None, None),
        (True, 123_456_789_012, None, None, None, None, None, None, None, None, None),
        (False, None, replaced, "c-moved-1", None, None, None, None, None, None, None),
        (False, None, None, None, change, None, None, None, None, None, None),
        (False, None, replaced, None, None, True, None, None, None, None, None),
        (False, None, None, None, None, True, 7, None, None, None, None),
        (False, None, None, None, None, None, None, ["period", "quota"], None, None, None),
        (False, None, replaced, None, None, None, None, ["quota"], ["period"], None, None),
        (False, None, None, None, None, None, None, None, None, True, None),
        (True, None, None, None, None, None, 7, None, None, None, True),
        (True, 123_456_789_012, None, None, None, None, 7, None, None, None, False),
    )
    for at, case in enumerate(cases):
        (
            deleting, grace_ends_ns, replaces, cgroups_path, updating, restarting, ended_pid,
            user_cpu, replaces_user_cpu, stopped_by_user, removed_at_exit,
        ) = case  # fmt: skip
        record = attrs.evolve(
            _record("c"),
            deleting=deleting,
            grace_ends_ns=grace_ends_ns,
            replaces=replaces,
            cgroups_path=cgroups_path,
            updating=updating,
            restarting=restarting,
            ended_pid=ended_pid,
            user_cpu=user_cpu,
            replaces_user_cpu=replaces_user_cpu,
            stopped_by_user=stopped_by_user,
            removed_at_exit=removed_at_exit,
        )
        path = tmp_path / f"journal-{at}"
        journal = RecordJournal(path)
        journal.put_encoded(
            "c",
            dump_json(unstructure(record.container)),
            record.start_times,
            deleting=deleting,
            grace_ends_ns=grace_ends_ns,
            replaces=None if replaces is None else dump_json(unstructure(replaces)),
            cgroups_path=cgroups_path,
            updating=None if updating is None else dump_json(unstructure(updating)),
            restarting=bool(restarting),
            ended_pid=ended_pid,
            user_cpu=tuple(user_cpu or ()),
            replaces_user_cpu=tuple(replaces_user_cpu or ()),
            stopped_by_user=bool(stopped_by_user),
            removed_at_exit=removed_at_exit,
        )
        journal.close()
        assert path.read_bytes() == dump_json({"put": unstructure(record)}) + b"\n"
        assert RecordJournal(path).load() == [record]


def test_journal_start_times_are_the_records_encoding(tmp_path: Path) -> None:
    """put_encoded writes the processes' start times by hand: the bytes of the record's own
    encoding, for none, one of an older daemon's record (no key), and keys JSON escapes."""
    cases: tuple[list[ProcessStart], ...] = (
        [],
        [ProcessStart(7, 99)],
        [ProcessStart(7, 99, "c.init")],
        [ProcessStart(7, 99, "c.init"), ProcessStart(32768, 2**40, 'c."\\é\n')],
    )
    for at, starts in enumerate(cases):
        record = attrs.evolve(_record("c"), start_times=starts)
        path = tmp_path / f"journal-{at}"
        journal = RecordJournal(path)
        journal.put_encoded("c", dump_json(unstructure(record.container)), starts, deleting=False)
        journal.close()
        assert path.read_bytes() == dump_json({"put": unstructure(record)}) + b"\n"
        assert RecordJournal(path).load() == [record]


@pytest.mark.parametrize("status", list(Status))
def test_records_round_trip_in_every_status(tmp_path: Path, status: Status) -> None:
    """A regression: a request hook once made stopped records unreadable after a restart."""
    # The request hooks are registered: schemas is imported (at the top) for them.
    journal = RecordJournal(tmp_path / "containers.journal")
    journal.put(_record("c", status))
    journal.close()
    assert RecordJournal(tmp_path / "containers.journal").load() == [_record("c", status)]


def test_the_journal_replays_puts_and_removes(tmp_path: Path) -> None:
    path = tmp_path / "containers.journal"
    journal = RecordJournal(path)
    journal.load()
    journal.put(_record("a"))
    journal.put(_record("bb"))
    journal.put(_record("a", Status.PAUSED))  # a later put wins
    journal.put(_record("ccc"))
    journal.remove("bb")
    journal.close()
    with open(path, "ab") as torn:
        torn.write(b'{"put": {"container": {"id": "dd')  # a crash in mid-write
    loaded = RecordJournal(path).load()
    assert [r.container.id for r in loaded] == ["a", "ccc"]  # oldest first
    assert loaded[0].container.state.status is Status.PAUSED
    # Loading rewrites the journal with just what is live.
    assert len(path.read_bytes().splitlines()) == 2


def test_the_journal_is_compacted(tmp_path: Path) -> None:
    path = tmp_path / "containers.journal"
    journal = RecordJournal(path)
    for n in range(3000):
        journal.put(_record(f"c{n % 3}"))
    journal.close()
    assert len(path.read_bytes().splitlines()) <= 1000
    assert [r.container.id for r in RecordJournal(path).load()] == ["c0", "c1", "c2"]


def test_unreadable_records_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "containers.journal"
    path.write_text('{"put": {"container": {"id": "broken"}}}\nnot json\n')
    assert RecordJournal(path).load() == []


@pytest.mark.parametrize("good", ["a", "redis", "A-1_b.c", "9" * 128])
def test_good_ids(good: str) -> None:
    assert check_id(good) == good


@pytest.mark.parametrize("bad", ["", ".", "..", "-a", "_a", "a/b", "a\0b", "a b", "é", "9" * 129])
def test_bad_ids(bad: str) -> None:
    with pytest.raises(InvalidRequest):
        check_id(bad)


def test_signals() -> None:
    assert parse_signal(9) == 9
    assert parse_signal("KILL") == parse_signal("SIGKILL") == parse_signal("sigkill") == 9
    assert parse_signal("64") == 64
    # docker's other names of three of them (kill -l lists none)
    assert parse_signal("IOT") == parse_signal("sigiot") == signal.SIGABRT
    assert parse_signal("CLD") == signal.SIGCHLD and parse_signal("SIGPOLL") == signal.SIGIO
    for bad in (0, 65, "SIGFOO", "", True, 1.0, None, [9]):
        with pytest.raises(InvalidRequest):
            parse_signal(bad)


@pytest.mark.parametrize(
    ("text", "number"),
    [("9", 9), ("09", 9), ("+9", 9), ("0" * 19 + "9", 9), ("RTMIN+03", 37), ("rtmax-02", 62)],
)
def test_a_signal_number_in_a_string_is_a_whole_number_as_a_query_writes_one(
    text: str, number: int
) -> None:
    """A signal's number as a string is read as tail=N is (numbers.whole_number): an optional
    sign and at most 20 ASCII digits. "+9" was an unknown signal, where tail=+9 is 9."""
    assert parse_signal(text) == number


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # white space was stripped: {"signal": " 9"} sent SIGKILL, where docker refuses it
        (" 9", "signal ' 9' holds white space: give a number 1..64 or a name alone"),
        ("9 ", "signal '9 ' holds white space"),
        ("\tKILL", "signal '\\tKILL' holds white space"),
        (" rtmin+3 ", "signal ' rtmin+3 ' holds white space"),
        ("9\u2003", "holds white space"),  # an em space
        # other scripts' digits and letters: upper() made a long s (U+017F) an S
        ("\u0669", "unknown signal '\u0669'"),  # an Arabic-Indic 9
        ("\uff19", "unknown signal '\uff19'"),  # a fullwidth 9
        ("\u017figkill", "unknown signal '\u017figkill'"),
        ("k\u0131ll", "unknown signal 'k\u0131ll'"),  # a dotless i
        ("-9", "signal '-9' is out of range: it must be 1..64"),
        ("0" * 20 + "9", "is out of range: it must be 1..64"),  # past 20 digits, as tail's
        ("1_0", "unknown signal '1_0'"),
        ("RTMIN+ 3", "holds white space"),
    ],
)
def test_a_signal_written_as_no_signal_is_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_signal(text)
    assert message in refused.value.message, refused.value.message


def test_real_time_signals_by_their_names() -> None:
    """kill(1) and docker name them from either end (RTMIN+3, SIGRTMAX-2): the daemon knew
    none of those names, and ctr-trio kill -s RTMIN+3 was refused."""
    assert parse_signal("RTMIN") == parse_signal("sigrtmin+0") == int(signal.SIGRTMIN) == 34
    assert parse_signal("RTMIN+3") == parse_signal("rtmin+3") == 37
    assert parse_signal("SIGRTMAX-2") == 62
    assert parse_signal("SIGRTMAX") == parse_signal("RTMIN+30") == parse_signal("RTMAX-0") == 64
    assert parse_signal("RTMAX-30") == 34
    for bad in ("RTMIN+31", "RTMAX-31", "RTMIN+" + "9" * 5000):
        with pytest.raises(InvalidRequest, match="is out of range: the real-time signals are"):
            parse_signal(bad)
    for bad in ("RTMIN-1", "RTMAX+1", "RTMIN+", "RT", "RTMIN3"):
        with pytest.raises(InvalidRequest, match="unknown signal"):
            parse_signal(bad)


def test_a_session_sends_on_the_signals_dockers_does_and_puts_every_handler_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A session without a terminal sent on SIGINT, SIGTERM and SIGHUP only. As docker's
    --sig-proxy it catches every signal a process may catch while it lasts (the real-time ones
    too), none of those about ctr-trio itself, and puts every handler back after: one the C
    library or the kernel refuses is left as it is, and stops none of the others."""
    own = {signal.SIGCHLD, signal.SIGPIPE, signal.SIGURG, signal.SIGWINCH, signal.SIGSEGV}
    own |= {signal.SIGABRT, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGKILL}
    sent_on = {signal.SIGUSR1, signal.SIGQUIT, signal.SIGALRM, signal.SIGRTMIN, signal.SIGRTMAX}
    assert sent_on <= interactive.PROXIED_SIGNALS and not own & interactive.PROXIED_SIGNALS
    before = {signum: signal.getsignal(signum) for signum in signal.valid_signals()}
    wakeup = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(wakeup)
    refused = signal.SIGUSR2
    set_handler = signal.signal

    def refusing(signum: int, handler: Any) -> Any:
        if signum == refused:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        return set_handler(signum, handler)

    monkeypatch.setattr(signal, "signal", refusing)
    out = Output(io.StringIO(), io.StringIO(), as_json=False)
    session = interactive.Session(cast(Client, None), "box", 1, out, stdin=False, tty=False,
                                  logs=False, detach_keys=b"", proxy_signals=True)  # fmt: skip
    with session._terminal():
        caught = {s for s in signal.valid_signals() if signal.getsignal(s) is interactive._ignore}
    assert caught == interactive.PROXIED_SIGNALS - {refused} | {signal.SIGWINCH}
    assert {signum: signal.getsignal(signum) for signum in signal.valid_signals()} == before
    assert signal.set_wakeup_fd(wakeup) == wakeup


@pytest.mark.parametrize(
    ("sent", "moved", "last"),
    [
        (19, {"inputNotTaken": 6, "inputRead": 14}, 11),  # 5 sent past what was read
        (14, {"inputNotTaken": 6, "inputRead": 14}, 6),  # all read
        (19, {"inputRead": 14}, 5),  # none of what was read left untaken
        (19, {"inputNotTaken": 6}, 6),  # a daemon that does not say what it read
    ],
)
def test_ctr_trio_counts_input_the_daemon_never_read_as_not_taken(
    sent: int, moved: dict[str, int], last: int
) -> None:
    """The input ctr-trio sent past what the daemon read (it crossed the moved status on its
    way) did not reach the container either: "the last N bytes" counts it with those the
    copy did not take. (Before, it said inputNotTaken alone: the last bytes, never read, for
    the earlier ones not taken.)"""
    out = Output(io.StringIO(), io.StringIO(), as_json=False)
    session = interactive.Session(cast(Client, None), "box", 1, out, stdin=True, tty=False,
                                  logs=False, detach_keys=b"", proxy_signals=False)  # fmt: skip
    session._input_sent = sent
    assert session._moved_away({"moved": True, "movedTo": "unix:/b.sock", **moved}) == 0
    stderr = out.stderr
    assert isinstance(stderr, io.StringIO)
    said = stderr.getvalue()
    assert f"; the last {last} bytes of our input, sent as it moved, did not reach it" in said


@pytest.mark.parametrize(
    ("typed", "sent", "detached"),
    [
        ([b"\x10", b"\x11"], b"", True),  # ctrl-p, then ctrl-q: docker's detach
        ([b"ls\x10\x11"], b"ls", True),  # in one read, after other keys
        ([b"\x10", b"x"], b"\x10x", False),  # a first key alone goes through
        # A key that breaks the sequence begins none, though it is the first key: docker's
        # client sends ctrl-p ctrl-p ctrl-q on and does not detach (a shell's ctrl-p, twice).
        ([b"\x10", b"\x10", b"\x11"], b"\x10\x10\x11", False),
        ([b"\x10\x10\x11"], b"\x10\x10\x11", False),
        ([b"\x10", b"\x10", b"\x10", b"\x11"], b"\x10\x10", True),  # the third begins one
    ],
)
def test_detach_keys_are_found_as_dockers_client_finds_them(
    typed: list[bytes], sent: bytes, detached: bool
) -> None:
    keys = interactive.DetachKeys(interactive.parse_detach_keys("ctrl-p,ctrl-q"))
    out = b""
    for chunk in typed:
        passed, detach = keys.feed(chunk)
        out += passed
        if detach:
            break
    assert (out, detach) == (sent, detached)


def test_request_bodies() -> None:
    body = structure({"bundlePath": "/b", "labels": {"a": "b"}}, schemas.StartRequest)
    assert body == schemas.StartRequest(bundle_path="/b", labels={"a": "b"})
    with pytest.raises(InvalidRequest, match="unknown field 'bundle'"):
        structure({"bundle": "/b"}, schemas.StartRequest)
    with pytest.raises(InvalidRequest, match="the request body must be a JSON object, not a list"):
        structure([], schemas.StartRequest)
    update = structure({"status": "paused"}, schemas.UpdateRequest)
    assert update.status is schemas.DesiredStatus.PAUSED and update.status.status is Status.PAUSED
    # A field its own message names is named once ("status: status must be ..." before).
    for given, message in [
        ({"status": "stopped"}, 'status must be "paused" or "running", not the string \'stopped\''),
        ({"signal": 0}, "signal 0 is out of range: it must be 1..64"),
        ({"resources": {"cpu": {"shares": 1}}}, "resources.cpu: shares must be between 2 and"),
    ]:
        with pytest.raises(InvalidRequest) as refused:
            structure(given, schemas.UpdateRequest)
        assert refused.value.message.startswith(message), refused.value.message


def test_listen_addresses() -> None:
    assert Listen.parse("127.0.0.1:8888") == Listen(host="127.0.0.1", port=8888)
    assert Listen.parse(":9000") == Listen(host="127.0.0.1", port=9000)
    assert Listen.parse("[::1]:80").is_loopback
    assert Listen.parse("unix:/run/x.sock") == Listen(unix_path=Path("/run/x.sock"))
    assert not Listen.parse("0.0.0.0:8888").is_loopback
    assert Listen.parse("localhost:1").is_loopback
    # A v4-mapped address is the IPv4 one (it was refused as "a non-loopback address").
    assert Listen.parse("[::ffff:127.0.0.1]:80").is_loopback
    assert not Listen.parse("[::ffff:192.0.2.1]:80").is_loopback
    for bad in ("8888", "host:port", "unix:", "1.2.3.4:99999"):
        with pytest.raises(ValueError, match="unix:"):
            Listen.parse(bad)


def test_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    config = parse_args(
        ["--listen", "unix:/tmp/x.sock", "--state-dir", "rel", "--runtime-timeout", "5"]
    )
    assert config.listen.unix_path == Path("/tmp/x.sock")
    assert config.state_dir.is_absolute() and config.runc_root == config.state_dir / "runc"
    assert config.runtime_timeout == 5.0
    # On a loopback address the group's members are admitted by their uid (api/access.py).
    assert parse_args(["--socket-group", "root"]).socket_group == "root"
    for argv, message in [
        (["--runtime-timeout", "0"], "must be a finite number greater than 0, not 0"),
        # float() takes these: NaN reached trio.fail_after, and the daemon died with a traceback.
        (["--runtime-timeout", "nan"], "must be a finite number greater than 0, not nan"),
        (["--shutdown-timeout", "inf"], "must be a finite number greater than 0, not inf"),
        # Not a number at all: argparse named the parsing function ("invalid parse value").
        (
            ["--log-max-bytes", "abc"],
            "--log-max-bytes: must be a whole number greater than 0, not 'abc'",
        ),
        (["--log-max-bytes", "1k"], "must be a whole number greater than 0, not '1k'"),
        (
            ["--runtime-timeout", "5s"],
            "--runtime-timeout: must be a number greater than 0, not '5s'",
        ),
        (["--listen", "nowhere"], "is not HOST:PORT or unix:PATH"),
        (["--tls-cert", "c"], "--tls-cert and --tls-key go together"),
        (["--socket-group", "root", "--listen", "0.0.0.0:1"], "--socket-group applies to a unix"),
        # No abbreviations, as ctr-trio takes none: --list took --listen's value.
        (["--list", "127.0.0.1:1"], "unrecognized arguments: --list"),
    ]:
        with pytest.raises(SystemExit):
            parse_args(argv)
        assert message in capsys.readouterr().err


def test_logfmt_lines() -> None:
    record = logging.LogRecord(
        "containerd_trio.supervisor",
        logging.INFO,
        "f",
        1,
        'container started id=%s "quoted"',
        ("redis",),
        None,
    )
    line = LogfmtFormatter().format(record)
    assert line.startswith("time=") and " level=info logger=supervisor " in line
    assert line.endswith('msg="container started id=redis \\"quoted\\""')
    assert json.dumps(line)  # one line, printable


def test_fds_from_the_keeper_wire_are_close_on_exec() -> None:
    """A received fd must not leak into the programs the keeper or the server start next
    (a stdin pipe would then never reach EOF)."""
    ours, theirs = pair()
    reader, writer = os.pipe()  # inheritable, as the worst sender would send it
    try:
        os.set_inheritable(writer, True)
        socket.send_fds(ours, [b'{"op":"x"}'], [writer])
        data, fds = receive_fds(theirs, MAX_MESSAGE, MAX_FDS)
        assert data == b'{"op":"x"}' and len(fds) == 1
        assert fcntl.fcntl(fds[0], fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        os.close(fds[0])
    finally:
        for fd in (reader, writer):
            os.close(fd)
        ours.close()
        theirs.close()


async def test_what_the_keeper_says_after_its_welcome_reaches_the_server() -> None:
    """A message the keeper sends right after its welcome (here the end of a runc command of
    the server before, which the adoption waits for) may be read in one go with the welcome:
    the link hands it on once it serves, before what came later. (Before, the hello that read
    the welcome dropped it: the next server's adoption then waited for that runc command past
    the runtime deadline, with its API unanswered.)"""
    keeper_end, server_end = pair()
    link = KeeperLink(server_end)
    heard: list[str] = []
    later = trio.Event()

    class Events:
        def process_exited(self, key: str, status: int, ns: int) -> None:
            heard.append(f"exit {key}")

        def output_ended(self, key: str) -> None:
            heard.append(f"eof {key}")

        def log_state(self, container_id: str, paused: bool) -> None:
            later.set()

        def log_forgotten(self, container_id: str) -> None:
            heard.append(f"forgotten {container_id}")

        def inflight_done(self, spawn_id: int, result: SpawnResult) -> None:
            heard.append(f"done {spawn_id} {result.status}")

        def handover(self) -> None:
            heard.append("handover")

        def stop_asked(self, signum: int) -> None:
            heard.append(f"stop {signum}")

    try:
        welcome = {"op": "welcome", "keeper": os.getpid(), "logger": None, "inflight": [7]}
        keeper_end.send(encode(welcome))
        keeper_end.send(encode({"op": "done", "id": 7, "status": 0}))
        assert (await link.hello()).inflight == [7]
        keeper_end.send(encode({"op": "log", "cid": "c", "paused": False}))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(link.serve, Events())
            with trio.fail_after(5):
                await later.wait()
            nursery.cancel_scope.cancel()
        assert heard == ["done 7 0"]
    finally:
        await link.aclose()
        keeper_end.close()


def _there(status: Status, migration: str | None = "migration-1") -> ContainerInfo:
    """The target's container of this id; moved by ``migration`` (its label), or not."""
    return ContainerInfo(
        id="c", bundle_path="/b", state=ContainerState(status=status), processes=[],
        created_at="2026-11-30T00:00:00+00:00",
        labels={} if migration is None else {MIGRATION_LABEL: migration},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("restore_asked", "aborted", "there", "expected"),
    [
        # Before the restore was asked the target cannot run it, whatever it answers.
        (False, True, None, Verdict.RESUME),
        (False, False, None, Verdict.RESUME),
        (False, None, None, Verdict.RESUME),
        # After: resumed here only on the target's word that it does not run it.
        (True, True, None, Verdict.RESUME),  # it aborted the session
        (True, False, None, Verdict.RESUME),  # no session, and no container of this id there
        (True, None, None, Verdict.UNSURE),  # no answer, or the abort failed
        (True, False, _there(Status.RUNNING), Verdict.KEPT),  # the finish's answer was lost
        (True, False, _there(Status.PAUSED), Verdict.KEPT),
        (True, False, _there(Status.STOPPED), Verdict.UNSURE),  # ended, or killed by an abort
        (True, False, _there(Status.RUNNING, "migration-0"), Verdict.UNSURE),  # another move's
        (True, False, _there(Status.RUNNING, None), Verdict.UNSURE),  # adopted from runc alone
        (True, False, _there(Status.STOPPED, None), Verdict.UNSURE),  # put back, runc's leftover?
        (True, False, _there(Status.CREATED), Verdict.UNSURE),
        (True, False, _there(Status.PAUSED, None), Verdict.UNSURE),
    ],
)
def test_a_failed_migration_never_leaves_the_container_in_both_places_or_none(
    restore_asked: bool, aborted: bool | None, there: ContainerInfo | None, expected: Verdict
) -> None:
    """What a failed move does with the container here, from what the target said
    (tests/test_migration.py drives the KEPT and UNSURE cases between two daemons)."""
    decided = verdict(
        restore_asked=restore_asked, aborted=aborted, there=there, migration="migration-1"
    )
    assert decided is expected


def test_a_moved_container_with_auto_remove_is_not_resumed_on_the_targets_silence() -> None:
    """None of the id on the target, its session gone after the restore: a container with
    autoRemove may have run there, ended and been removed (a finish whose answer was lost):
    resumed here, it would run twice. One without it is resumed, as before."""
    silent = functools.partial(verdict, there=None, migration="migration-1")
    assert silent(restore_asked=True, aborted=False, auto_remove=True) is Verdict.UNSURE
    assert silent(restore_asked=True, aborted=False) is Verdict.RESUME
    # Before the restore was asked, or once the target aborted, it never ran there.
    assert silent(restore_asked=False, aborted=False, auto_remove=True) is Verdict.RESUME
    assert silent(restore_asked=True, aborted=True, auto_remove=True) is Verdict.RESUME


async def test_consult_says_why_a_moved_container_with_auto_remove_stays_paused() -> None:
    with trio.fail_after(5):
        consulted = await consult(
            _Target(False, None), "s", "c", "migration-1",
            restore_asked=True, within=1, auto_remove=True,
        )  # fmt: skip
    assert consulted.verdict is Verdict.UNSURE
    assert "autoRemove" in consulted.reason and consulted.there is None


async def test_an_abort_the_target_did_not_get_is_asked_again() -> None:
    """A lost connection (the target's server killed, its next one serving a moment later;
    a keep-alive connection closed as it was reused) is no answer: the abort is asked again
    within the deadline, and the move rolled back. It was asked once: 'rolledBack: false'
    for a move the target's next server would have undone (a full run, 19:01)."""
    target = _Target(_LOST, later=True)
    with trio.fail_after(5):
        consulted = await consult(target, "s", "c", "migration-1", restore_asked=True, within=2)
    assert (consulted.verdict, consulted.clean, target.aborts) == (Verdict.RESUME, True, 2)
    # An abort the target refused is its answer: not asked again.
    refused = _Target(_REFUSED)
    with trio.fail_after(5):
        consulted = await consult(refused, "s", "c", "migration-1", restore_asked=True, within=2)
    assert (consulted.verdict, consulted.clean, refused.aborts) == (Verdict.UNSURE, False, 1)


class _Target:
    """A target that answers the abort and the question of its container as told
    (an exception is raised; ``...`` never answers); ``later``: what the aborts after the
    first answer."""

    def __init__(self, abort: object, there: object = None, *, later: object = None) -> None:
        self._abort, self._there, self._later = abort, there, later
        self.asked_there = False
        self.aborts = 0

    async def _answer(self, answer: object) -> Any:
        if answer is ...:
            await trio.sleep_forever()
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def abort(self, migration: str) -> bool:
        self.aborts += 1
        answer = self._abort if self.aborts == 1 or self._later is None else self._later
        result: bool = await self._answer(answer)
        return result

    async def container(self, container_id: str) -> ContainerInfo | None:
        self.asked_there = True
        result: ContainerInfo | None = await self._answer(self._there)
        return result


_REFUSED = TargetError("the target could not abort the migration: it failed (500)", 500)
_UNREACHABLE = TargetError("the target could not list the container: connection refused", None)
_LOST = TargetError(
    "the target could not abort the migration: connection reset by peer", None, unanswered=True
)


@pytest.mark.parametrize(
    ("restore_asked", "target", "expected", "clean"),
    [
        (False, _Target(True), Verdict.RESUME, True),
        (False, _Target(False), Verdict.RESUME, True),  # no session there: none to undo
        (False, _Target(...), Verdict.RESUME, False),  # no answer in time: said so
        (False, _Target(_REFUSED), Verdict.RESUME, False),
        (True, _Target(True), Verdict.RESUME, True),
        (True, _Target(False, None), Verdict.RESUME, True),
        (True, _Target(False, _there(Status.RUNNING)), Verdict.KEPT, True),
        (True, _Target(False, _there(Status.STOPPED)), Verdict.UNSURE, True),
        (True, _Target(False, _UNREACHABLE), Verdict.UNSURE, False),
        (True, _Target(False, ...), Verdict.UNSURE, False),  # the question unanswered in time
        (True, _Target(_REFUSED), Verdict.UNSURE, False),  # its copy may still run there
        (True, _Target(...), Verdict.UNSURE, False),
    ],
)
async def test_what_the_target_says_after_a_failed_migration(
    restore_asked: bool, target: _Target, expected: Verdict, clean: bool
) -> None:
    """consult(): the target's answers (and silences, within the deadline) as verdict()'s
    inputs; the container is asked after only if the session was gone after the restore."""
    with trio.fail_after(5):
        consulted = await consult(
            target, "s", "c", "migration-1", restore_asked=restore_asked, within=0.05
        )
    assert (consulted.verdict, consulted.clean) == (expected, clean)
    assert target.asked_there is (restore_asked and target._abort is False)
    if expected is Verdict.UNSURE:
        assert consulted.reason


# --- what a migration left open: the target's next server removes it --------------------------


#: Names near the session's own (checkpoint c1), which must stay.
_NEAR_IMAGES = ["c1-pd0", "c1-pd1000", "c10", "c1x", "other"]
_NEAR_STAGING = [".import-c1-0a1b2c3", ".import-c10-0a1b2c3d", ".import-other-0a1b2c3d"]


def _left_bundle(parent: Path, name: str) -> Path:
    """A bundle as a session of checkpoint c1 left it: its images and pre-copy rounds, the
    archives it was unpacking (in it, and beside it), and names near those."""
    bundle = parent / name
    (bundle / "rootfs").mkdir(parents=True)
    (bundle / "config.json").write_text("{}")
    for image in ("c1", "c1-pd1", "c1-pd12", *_NEAR_IMAGES):
        (bundle / "checkpoints" / image).mkdir(parents=True)
    for staging in (".import-c1-0a1b2c3d", ".import-c1-pd2-0a1b2c3d", *_NEAR_STAGING):
        (bundle / staging).mkdir()
    (parent / f".{name}.import-0a1b2c3d").mkdir()
    (parent / f".{name}x.import-0a1b2c3d").mkdir()  # another bundle's
    (parent / f".{name}.import-0a1b2c3").mkdir()
    return bundle


_OURS = ["c1", "c1-pd1", "c1-pd12"]
_ALL = sorted(_OURS + _NEAR_IMAGES)


@pytest.mark.parametrize(
    ("shared", "with_bundle", "made_bundle", "kept", "in_use", "bundle_stays", "images_left"),
    [
        # made here, not kept: all of it goes
        (False, True, True, False, False, False, None),
        # made here, its container restored and kept: the bundle stays, its images go
        (False, True, True, True, False, True, _NEAR_IMAGES),
        # made here, and a container here uses it without the move's label (adopted from
        # runc's word alone): the bundle stays
        (False, True, True, False, True, True, _NEAR_IMAGES),
        # the bundle's archive was under way: its staging goes, the bundle (maybe another's)
        # stays
        (False, True, False, False, False, True, _NEAR_IMAGES),
        # the bundle was there already: the images go
        (False, False, False, False, False, True, _NEAR_IMAGES),
        # shared with the source: its images are the source's, and none is recorded
        (True, False, False, False, False, True, _ALL),
    ],
)
async def test_what_a_migration_left_open_is_removed(
    tmp_path: Path,
    shared: bool,
    with_bundle: bool,
    made_bundle: bool,
    kept: bool,
    in_use: bool,
    bundle_stays: bool,
    images_left: list[str] | None,
) -> None:
    from containerd_trio.migration.incoming import Incoming
    from containerd_trio.migration.ledger import SessionEntry, SessionLedger

    bundle = _left_bundle(tmp_path / "srv", "b")
    ledger = SessionLedger(tmp_path / "migrations")
    imported = [] if shared else _OURS
    ledger.write(
        SessionEntry("s1", "box", str(bundle), "c1", shared, with_bundle, made_bundle, imported)
    )
    (tmp_path / "migrations" / "torn.json").write_text('{"id": "s2", "contai')
    (tmp_path / "migrations" / ".s3.json.new").write_text("{}")
    (tmp_path / "migrations" / "s4.json").mkdir()  # what a record cannot be
    host = TargetHost({("box", "c1")} if kept else set(), {bundle} if in_use else set())
    incoming = Incoming(host, ledger)
    incoming.find_left()
    (bundle / ".import-c1-pd3-0a1b2c3d").mkdir()  # an archive of a session opened since
    await incoming.clear_left()

    assert os.listdir(tmp_path / "migrations") == ["s4.json"]
    assert bundle.exists() is bundle_stays
    beside = sorted(os.listdir(tmp_path / "srv"))
    assert ".bx.import-0a1b2c3d" in beside and ".b.import-0a1b2c3" in beside
    assert (".b.import-0a1b2c3d" in beside) is (not with_bundle)
    if bundle_stays:
        assert sorted(os.listdir(bundle / "checkpoints")) == images_left
        staging = sorted(n for n in os.listdir(bundle) if n.startswith(".import"))
        ours = [] if not shared else [".import-c1-0a1b2c3d", ".import-c1-pd2-0a1b2c3d"]
        assert staging == sorted([".import-c1-pd3-0a1b2c3d", *ours, *_NEAR_STAGING])


class _RecordsAtEachWord(logging.Handler):
    """The records in a ledger's directory as each log record is emitted: what a reader of
    the log, acting on its word at once, finds there."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory
        self.seen: list[tuple[str, list[str]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((record.getMessage(), sorted(os.listdir(self.directory))))


@pytest.mark.parametrize("removable", [True, False])
async def test_a_left_session_is_said_settled_once_its_record_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, removable: bool
) -> None:
    """The next server's word on what a session left open made ("removed what it received",
    or that it could not) comes once the session's record is gone. Before, the record went
    just after: a reader of the log (test_migration's target killed mid-move, under load)
    could find it still there."""
    from containerd_trio.migration import incoming as incoming_module
    from containerd_trio.migration.incoming import Incoming
    from containerd_trio.migration.ledger import SessionEntry, SessionLedger

    bundle = _left_bundle(tmp_path / "srv", "b")
    if not removable:

        def cannot_remove(*args: object) -> None:
            raise OSError(errno.EBUSY, "busy")

        monkeypatch.setattr(incoming_module, "_remove_left", cannot_remove)
    ledger = SessionLedger(tmp_path / "migrations")
    ledger.write(SessionEntry("s1", "box", str(bundle), "c1", False, True, True, _OURS))
    incoming = Incoming(TargetHost(set(), set()), ledger)
    incoming.find_left()
    words = _RecordsAtEachWord(tmp_path / "migrations")
    incoming_module.log.addHandler(words)
    try:
        await incoming.clear_left()
    finally:
        incoming_module.log.removeHandler(words)
    assert [seen for _, seen in words.seen] == [[]], words.seen


@pytest.mark.parametrize("handed_off", [True, False])
async def test_a_left_session_that_restored_its_container_goes_on(
    tmp_path: Path, handed_off: bool
) -> None:
    """A session the last server left once it had restored its container, adopted here, goes
    on (its record and images stay, the container is moving here): a hand-off its record
    says was written is answered without a write; one not yet written is written (the fake
    host refuses it: a 409 at the source's door); the finish ends it, the images going. A
    session whose abort had begun, or whose container is not here, is cleared as before."""
    from containerd_trio.errors import NotFound
    from containerd_trio.migration.incoming import Incoming
    from containerd_trio.migration.ledger import SessionEntry, SessionLedger

    bundle = _left_bundle(tmp_path / "srv", "b")
    other = _left_bundle(tmp_path / "srv", "o")
    ledger = SessionLedger(tmp_path / "migrations")
    ledger.write(
        SessionEntry(
            "s1", "box", str(bundle), "c1", False, imported=_OURS, restored=True,
            handed_off=handed_off, init_pid=1234,
        )
    )  # fmt: skip
    ledger.write(
        SessionEntry(
            "s2", "bax", str(other), "c1", False, imported=_OURS, restored=True, aborting=True
        )
    )
    ledger.write(SessionEntry("s3", "gone", str(other), "c3", False, restored=True))
    host = TargetHost({("box", "c1"), ("bax", "c1")}, set())
    incoming = Incoming(host, ledger)
    incoming.find_left()
    await incoming.clear_left()
    assert os.listdir(tmp_path / "migrations") == ["s1.json"]
    assert incoming.moving_here("box") and not incoming.moving_here("bax")
    assert sorted(os.listdir(bundle / "checkpoints")) == _ALL
    assert sorted(os.listdir(other / "checkpoints")) == _NEAR_IMAGES
    if handed_off:
        await incoming.stdin("s1", b"one\n")  # written already: not again
    else:
        with pytest.raises(AssertionError, match="no stdin"):
            await incoming.stdin("s1", b"one\n")
    await incoming.finish("s1")
    assert os.listdir(tmp_path / "migrations") == []
    assert sorted(os.listdir(bundle / "checkpoints")) == _NEAR_IMAGES
    with pytest.raises(NotFound):
        await incoming.finish("s1")


def test_a_moves_record_keeps_its_timeout_and_an_older_one_still_reads(tmp_path: Path) -> None:
    """The move's ``timeout`` is in its record, for the next server to settle it under; a
    record written before it was kept reads with none (the checkpoint deadline then). So do
    the input taken out of the copy and whether it is back in the copy too (a record older
    than those: none, and not)."""
    from containerd_trio.migration.ledger import MoveEntry, MoveLedger

    ledger = MoveLedger(tmp_path / "outgoing")
    ledger.write(
        MoveEntry(
            "m1", "box", "/srv/box", "unix:/t.sock", images=["m1"], timeout=2.5,
            stdin="b25lCg==", stdin_in_copy=True,
        )
    )  # fmt: skip
    older = {"id": "m2", "containerId": "box", "bundle": "/srv/box", "target": "unix:/t.sock"}
    (tmp_path / "outgoing" / "m2.json").write_text(json.dumps(older))
    found = [
        (entry.id, entry.timeout, entry.stdin, entry.stdin_in_copy) for entry in ledger.leftovers()
    ]
    assert found == [("m1", 2.5, "b25lCg==", True), ("m2", None, None, False)]


def _identity(path: Path) -> tuple[int, int]:
    found = os.lstat(path)
    return found.st_dev, found.st_ino


@pytest.mark.parametrize("moved", [True, False])
async def test_what_a_migration_was_moving_into_place_goes_if_it_was_moved(
    tmp_path: Path, moved: bool
) -> None:
    """A server that died between an archive's move into place and the record of it left
    the bundle, or the checkpoint, for good: its successor could not tell the session's from
    another's at that path. The record of what is about to move, with the identity a rename
    keeps, tells: the session's goes (the empty directory the bundle replaced is put back),
    another's stays."""
    from containerd_trio.archive import Placement
    from containerd_trio.migration.incoming import Incoming
    from containerd_trio.migration.ledger import (
        EmptyDirectory,
        SessionEntry,
        SessionLedger,
    )

    bundle = tmp_path / "srv" / "b"
    (bundle / "checkpoints" / "c1").mkdir(parents=True)
    (bundle / "config.json").write_text("{}")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ledger = SessionLedger(tmp_path / "migrations")
    ledger.write(
        SessionEntry(
            "s1", "box", str(bundle), "c1", shared=False, with_bundle=True,
            placing=[Placement(bundle, *_identity(bundle if moved else elsewhere))],
            bundle_was=EmptyDirectory(0o750, 1234, 4321),
        )
    )  # fmt: skip
    other = tmp_path / "other"
    (other / "checkpoints" / "c2").mkdir(parents=True)
    (other / "config.json").write_text("{}")
    image = other / "checkpoints" / "c2"
    ledger.write(
        SessionEntry(
            "s2", "box2", str(other), "c2", shared=False,
            placing=[Placement(image, *_identity(image if moved else elsewhere))],
        )
    )  # fmt: skip
    incoming = Incoming(TargetHost(set(), set()), ledger)
    incoming.find_left()
    await incoming.clear_left()

    assert os.listdir(tmp_path / "migrations") == []
    assert (other / "config.json").is_file()  # a bundle that was there: never the session's
    if moved:
        assert os.listdir(bundle) == []
        found = os.lstat(bundle)
        assert (stat.S_IMODE(found.st_mode), found.st_uid, found.st_gid) == (0o750, 1234, 4321)
        assert os.listdir(other / "checkpoints") == []
    else:
        assert (bundle / "config.json").is_file() and (bundle / "checkpoints" / "c1").is_dir()
        assert os.listdir(other / "checkpoints") == ["c2"]


async def test_a_migration_record_that_cannot_be_acted_on_is_dropped(tmp_path: Path) -> None:
    """A record whose bundle path no system call takes (a lone surrogate, from before the
    API refused them) is logged and dropped: it stopped every later server from starting."""
    from containerd_trio.migration.incoming import Incoming
    from containerd_trio.migration.ledger import SessionLedger

    directory = tmp_path / "migrations"
    directory.mkdir()
    (directory / "s1.json").write_text(
        '{"id": "s1", "containerId": "box", "bundle": "/tmp/\\ud800x", "checkpoint": "c1",'
        ' "shared": false, "withBundle": true, "madeBundle": true}'
    )
    incoming = Incoming(TargetHost(set(), set()), SessionLedger(directory))
    incoming.find_left()
    await incoming.clear_left()
    assert os.listdir(directory) == []


# --- the libc calls (containerd_trio._libc), each through the module that makes it ----------


def test_the_subreaper_setting_reads_back_as_set() -> None:
    """prctl's GET_CHILD_SUBREAPER writes through the address it is given: read after each
    SET, it says what was set."""
    was = host.is_subreaper()
    try:
        host.set_subreaper(True)
        assert host.is_subreaper()
        host.set_subreaper(False)
        assert not host.is_subreaper()
    finally:
        host.set_subreaper(was)


def test_an_append_file_keeps_room_allocated_past_its_end(tmp_path: Path) -> None:
    """fallocate(FALLOC_FL_KEEP_SIZE): the blocks are there, the size is the lines'."""
    path = tmp_path / "journal"
    journal = AppendFile(str(path), reserve=1 << 20)
    try:
        assert journal.append(b"one\n")
        written = os.stat(path)
    finally:
        journal.close()
    assert written.st_size == 4
    assert written.st_blocks * 512 >= 1 << 20


@contextlib.contextmanager
def mounted(*mount_args: str) -> Iterator[None]:
    """``mount *mount_args`` for the block (the last argument is the mount point); detached
    after it whatever the removal under test did."""
    subprocess.run(["mount", *mount_args], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", "--lazy", mount_args[-1]], check=False, capture_output=True)


def test_a_removal_never_crosses_a_mount_beneath(tmp_path: Path) -> None:
    """A tmpfs and a bind mount (its name with a space, which the mount table escapes) in a
    tree handed to the removal: it stops before entering any subdirectory, with EBUSY, and
    what both mounts hold survives; ignore_errors only keeps it quiet."""
    tree = tmp_path / "tree"
    (tree / "deep" / "tmpfs").mkdir(parents=True)
    (tree / "bound dir").mkdir()
    (tree / "deep" / "own").write_text("ours\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious").write_text("kept\n")
    with (
        mounted("-t", "tmpfs", "none", str(tree / "deep" / "tmpfs")),
        mounted("--bind", str(elsewhere), str(tree / "bound dir")),
    ):
        (tree / "deep" / "tmpfs" / "precious").write_text("kept\n")
        with pytest.raises(OSError, match="mounted beneath it") as raised:
            mounts.remove_tree(tree, ignore_errors=False)
        assert raised.value.errno == errno.EBUSY
        mounts.remove_tree(tree)
        assert (tree / "deep" / "tmpfs" / "precious").read_text() == "kept\n"
        assert (tree / "deep" / "own").exists()  # nothing beneath the top was entered
    assert (elsewhere / "precious").read_text() == "kept\n"


def test_a_removal_detaches_a_cgroup_yard_left_beneath_and_removes_the_rest(
    tmp_path: Path,
) -> None:
    """What a killed CRIU restore leaves in its work dir, with tmpfs in place of the cgroup
    hierarchies: a tmpfs yard, one mount per controller in it. The removal detaches them
    (deepest first) and removes the tree; the controller's file, seen through an fd opened
    before, was never removed through the mount."""
    work = tmp_path / "criu-restore"
    yard = work / f"{mounts.CGROUP_YARD_PREFIX}Ab12Cd"
    yard.mkdir(parents=True)
    (work / "restore.log").write_text("killed\n")
    with mounted("-t", "tmpfs", "none", str(yard)):
        (yard / "pids").mkdir()
        with mounted("-t", "tmpfs", "none", str(yard / "pids")):
            (yard / "pids" / "host-cgroup").mkdir()
            controller = os.open(yard / "pids", os.O_RDONLY | os.O_DIRECTORY)
            try:
                mounts.remove_tree(work, ignore_errors=False)
                assert stat.S_ISDIR(os.stat("host-cgroup", dir_fd=controller).st_mode)
            finally:
                os.close(controller)
            assert not work.exists()
            assert mounts.mounts_beneath(str(tmp_path)) == []


def test_a_removal_of_files_only_never_reads_the_mount_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A container's directory (its log): no mount can be beneath a directory without a
    subdirectory, so the mount table is not read."""

    def unread(directory: str) -> list[str]:
        raise AssertionError(f"the mount table was read for {directory}")

    monkeypatch.setattr(mounts, "mounts_beneath", unread)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "log.json").write_text("{}\n")
    mounts.remove_tree(tmp_path / "c", ignore_errors=False)
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("pre_copy", [False, True])
async def test_a_checkpoint_whose_work_dir_cannot_be_made_leaves_no_checkpoint(
    tmp_path: Path, pre_copy: bool
) -> None:
    """docs/api.md: a failed checkpoint leaves none. A work dir that could not be made (here: a
    file where the container's directory should be) once left the image's directory reserved
    without its metadata, which every later checkpoint of the name was refused for (409: not a
    checkpoint). A dump makes the work dir before it reserves the name (then no checkpoints
    directory is made at all); a pre-copy round reserves first and removes the reservation."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    directory = tmp_path / "container"
    directory.write_text("")
    runtime = cast(Runc, None)  # never reached: the failure comes first

    async def gone() -> bool:
        raise AssertionError("asked whether the container stopped")

    checkpointing = (
        criu.pre_dump(runtime, "c", bundle, directory, "cp", None, deadline=1)
        if pre_copy
        else criu.dump(
            runtime, "c", bundle, directory, "cp", CriuOptions(), exit=False, was_paused=True,
            cleanup_timeout=1, gone=gone, deadline=1, progress=cast(CriuProgress, None),
            resources=Resources(), process=checkpoints.KeptProcess(),
        )
    )  # fmt: skip
    with pytest.raises(NotADirectoryError):
        await checkpointing
    made = bundle / "checkpoints"
    assert not made.exists() or os.listdir(made) == []


def test_a_checkpoint_keeps_the_limits_of_its_dump(tmp_path: Path) -> None:
    """What a restore puts back in force: the limits recorded with the checkpoint; none for a
    checkpoint of older code (the bundle's then); a 404 naming the file when unreadable."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    checkpoints.reserve(bundle, "cp")
    assert checkpoints.kept_resources(bundle, "cp") is None
    limits = Resources(memory=MemoryResources(limit=64 << 20), pids=PidsResources(limit=9))
    checkpoints.keep_resources(bundle, "cp", limits)
    assert checkpoints.kept_resources(bundle, "cp") == limits
    (bundle / "checkpoints" / "cp" / checkpoints.RESOURCES_NAME).write_text('{"memory": 3}')
    with pytest.raises(NotFound, match=r"checkpoint 'cp' has unreadable resources\.json"):
        checkpoints.kept_resources(bundle, "cp")


def test_a_checkpoint_keeps_what_its_start_ran(tmp_path: Path) -> None:
    """What a restore runs the container as when no record of it is left: the start's
    process and stdin recorded with the checkpoint (a plain start's too: the bundle's
    process, said so); none for a checkpoint of older code; a 404 naming the file when it
    is unreadable or names nothing."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    checkpoints.reserve(bundle, "cp")
    assert checkpoints.kept_process(bundle, "cp") is None
    given = StartProcess(args=["sh"], env=["A=1"], cwd="/tmp", user=UserSpec(uid=7), terminal=True)
    checkpoints.keep_process(bundle, "cp", checkpoints.KeptProcess(given, stdin=True))
    assert checkpoints.kept_process(bundle, "cp") == checkpoints.KeptProcess(given, stdin=True)
    kept = bundle / "checkpoints" / "cp" / checkpoints.PROCESS_NAME
    kept.unlink()
    checkpoints.keep_process(bundle, "cp", checkpoints.KeptProcess(None))
    assert checkpoints.kept_process(bundle, "cp") == checkpoints.KeptProcess(None, stdin=False)
    # The container's settings (since 2026-12-03): written only when it had them, so that
    # the file of a container with none is the one older code wrote (and reads).
    assert json.loads(kept.read_text()) == {"stdin": False}
    kept.unlink()
    settings = checkpoints.KeptProcess(
        None, labels={"team": "infra"}, restart_policy=RestartPolicy(name="always")
    )
    checkpoints.keep_process(bundle, "cp", settings)
    assert checkpoints.kept_process(bundle, "cp") == settings
    for bad, problem in [
        ('{"process": {"cwd": "tmp"}}', "process: cwd must be an absolute path, not 'tmp'"),
        ('{"process": {}}', "its process names nothing"),
        ('{"process": null, "color": 1}', "unknown field 'color'"),
        ('{"labels": {"a\\n": "1"}}', "label 'a\\n' in labels has a control character"),
        (
            '{"autoRemove": true, "restartPolicy": {"name": "on-failure"}}',
            "autoRemove cannot be given with restartPolicy 'on-failure'",
        ),
        ("[]", "it is not a JSON object"),
    ]:
        kept.write_text(bad)
        with pytest.raises(NotFound, match=r"checkpoint 'cp' has unreadable process\.json: ") as e:
            checkpoints.kept_process(bundle, "cp")
        assert problem in e.value.message


@pytest.mark.parametrize("with_log", [True, False])
def test_a_criu_failure_names_no_log_file_the_daemon_removes(
    tmp_path: Path, with_log: bool
) -> None:
    """docs/checkpoint.md: a CRIU failure's 500 carries CRIU's words. runc's own message ends
    with "log file: <work dir>/dump.log", and the daemon removes that work dir before it
    answers: the message sent the user to a file that was gone. The log's lines are in the
    message instead (when it could be read), and its path is not."""
    work = tmp_path / "criu-dump-c1"
    work.mkdir()
    if with_log:
        (work / "dump.log").write_text(
            "(00.01) dumping\n(00.16) Error (criu/sk-inet.c:200): inet: Connected TCP socket,"
            " consider using --tcp-established option.\n(00.24) Unseizing 7 into 1\n"
        )
    failure = RuncError(
        "checkpoint", f"criu failed: type NOTIFY errno 0\nlog file: {work}/dump.log"
    )
    message = criu.with_criu_log(failure, work, "dump.log").message
    assert "log file:" not in message
    assert str(work) not in message
    assert message.startswith("runc checkpoint failed: criu failed: type NOTIFY errno 0")
    assert ("consider using --tcp-established" in message) == with_log


def test_releasing_a_criu_root_where_none_is_mounted(tmp_path: Path) -> None:
    """umount2 where nothing is mounted (no such path, a plain directory) is nothing to do;
    another refusal is raised, naming the path."""
    release_criu_root(tmp_path)
    (tmp_path / "criu-root").mkdir()
    release_criu_root(tmp_path)
    too_long = tmp_path / ("x" * 300)
    with pytest.raises(OSError, match="File name too long") as raised:
        release_criu_root(too_long)
    assert raised.value.errno == errno.ENAMETOOLONG
    assert raised.value.filename == str(too_long / "criu-root")


@pytest.mark.parametrize(
    ("intent", "log", "finished"),
    [
        (True, b"(00.16) Writing stats\n(00.17) Dumping finished successfully\n", True),
        # The log ends as a success's, but CRIU wrote no statistics: it died, not finished.
        (True, b"(00.1) Dumping path [/x\nDumping finished successfully\n", False),
        # The phrase quoted from a container's file name, then a failure: not finished.
        (
            True,
            b"(00.1) Dumping path [/Dumping finished successfully\n]\n(00.2) Dumping FAILED.\n",
            False,
        ),
        (True, b"(00.1) Dumping finished successfully", False),  # cut short: not the last line
        (False, b"(00.17) Dumping finished successfully\n", False),  # a pre-copy round's
    ],
    ids=["finished", "no-stats", "quoted-then-failed", "cut", "pre-dump"],
)
def test_a_dump_left_by_a_dead_server_is_finished_only_as_criu_says(
    tmp_path: Path, intent: bool, log: bytes, finished: bool
) -> None:
    """A dump's work dir holds the checkpoint it is to be; the next server completes it only
    if CRIU wrote its statistics (only a success does) and its log ends with its success (its
    last line: the log quotes the container's file names), stamped when the log ended."""
    work = criu.dump_work(tmp_path, "cp")
    work.mkdir()
    options = CriuOptions(tcp_established=True)
    if intent:
        (work / criu.DUMP_INTENT).write_bytes(
            checkpoints.encode(checkpoints.new_info("cp", options))
        )
    (work / "dump.log").write_bytes(log)
    if log.startswith(b"(00.16) Writing stats"):
        (work / criu_stats.DUMP_STATS).write_bytes(b"\0")
    os.utime(work / "dump.log", ns=(0, 1_795_000_000_000_000_000))
    info = criu.finished_dump(work)
    if not finished:
        assert info is None
        return
    assert info is not None
    assert (info.name, info.criu_options, info.timestamp) == (
        "cp",
        options,
        timestamps.format_ns(1_795_000_000_000_000_000),
    )


def test_limits_laid_over_a_bundle_leave_what_they_do_not_name_as_written() -> None:
    """A start's limits go over the bundle's linux.resources; a section they do not name is
    the bundle's as written, whatever it holds (found in review: a bundle's "memory" that was
    no object failed a start with only a pids limit with AttributeError, a 500), and a memory
    limit above the bundle's swap is a 400 naming both."""
    from containerd_trio.model import MemoryResources, PidsResources, Resources
    from containerd_trio.resources import lay_over

    config: dict[str, Any] = {"linux": {"resources": {"memory": [1, 2], "pids": {"limit": 9}}}}
    lay_over(config, Resources(pids=PidsResources(limit=5)), Path("/b/config.json"))
    assert config["linux"]["resources"] == {"memory": [1, 2], "pids": {"limit": 5}}
    config = {"linux": {"resources": {"memory": {"swap": 100000}}}}
    with pytest.raises(InvalidRequest, match=r"200000 is above linux.resources.memory.swap"):
        lay_over(config, Resources(memory=MemoryResources(limit=200000)), Path("/b/config.json"))


def test_a_server_that_starts_remembers_the_moves_its_event_log_keeps() -> None:
    """The memory of the containers that moved away, as a next server takes it up from the
    kept event log: each moved copy's exit (where it went, when), but not an id a start or a
    restore made another container of since, nor a plain exit; the last ``most`` only."""
    from containerd_trio.events import Event
    from containerd_trio.migration.moved_away import moved_away

    def exit_of(container_id: str, at: int, **detail: Any) -> Event:
        return Event("exit", container_id, at, pid=7, status=137, detail=detail or None)

    moved = {"init": True, "moved": True, "movedTo": "unix:/b.sock"}
    events = [
        exit_of("a", 1, **moved),
        Event("delete", "a", 2),
        exit_of("b", 3, **moved),
        Event("start-container", "b", 4, pid=8),  # b is another container now
        exit_of("c", 5, init=True),  # an end, no move
        exit_of("d", 6, init=True, moved=True),  # moved, its target's address not known
        exit_of("e", 7, **moved),
        exit_of("f", 8, **moved),
        Event("restore", "f", 9, pid=9),  # moved back in
    ]
    remembered = moved_away(events, 10)
    assert list(remembered) == ["a", "d", "e"]
    assert remembered["e"].moved and remembered["e"].moved_to == "unix:/b.sock"
    assert (remembered["e"].pid, remembered["e"].exit_status) == (7, 137)
    assert remembered["e"].exited_at == timestamps.format_ns(7)
    assert remembered["d"].moved and remembered["d"].moved_to is None
    # As the live server's memory: a, then d dropped by the bound as e, then f came; f
    # forgotten by its restore.
    assert list(moved_away(events, 2)) == ["e"]


def test_a_server_that_starts_remembers_the_auto_removals_its_event_log_keeps() -> None:
    """The memory of the containers autoRemove removed, as a next server takes it up from the
    kept event log: each ``delete`` marked autoRemove, answered with the init's last ``exit``
    before it; not a delete of its user's, nor an id a start or a restore made another
    container of since, nor one whose exit the log no longer keeps; the last ``most`` only."""
    from containerd_trio.events import Event
    from containerd_trio.removals import auto_removed

    def exit_of(container_id: str, at: int, status: int, **detail: Any) -> Event:
        return Event("exit", container_id, at, pid=at, status=status, detail=detail or None)

    def removal(container_id: str, at: int) -> Event:
        return Event("delete", container_id, at, detail={"autoRemove": True})

    events = [
        exit_of("a", 1, 3, init=True),
        removal("a", 2),
        exit_of("b", 3, 0, init=True),
        Event("delete", "b", 4),  # its user's delete
        exit_of("c", 5, 1, init=True),
        exit_of("c", 6, 2),  # an exec'd process's exit, not the init's
        removal("c", 7),
        exit_of("d", 8, 0, init=True),
        removal("d", 9),
        Event("start-container", "d", 10, pid=10),  # d is another container now
        removal("e", 11),  # its exit no longer kept
        exit_of("f", 12, 137, init=True),
        removal("f", 13),
    ]
    remembered = auto_removed(events, 10)
    assert list(remembered) == ["a", "c", "f"]
    assert (remembered["c"].pid, remembered["c"].exit_status) == (5, 1)
    assert remembered["c"].exited_at == timestamps.format_ns(5)
    assert list(auto_removed(events, 2)) == ["c", "f"]


def test_what_a_next_server_takes_up_from_the_log_says_each_exit_s_own_time() -> None:
    """An exit's ``exitedAt`` is its process's time, which its waits answered: a next server
    that takes a removal, a move or a process's exit up from the kept log answers that, not
    the event's stamp, which is later when a later event was published first (an init that
    exits before its ``start-container``). An exit kept from before the field (or one whose
    time is unknown) has its stamp alone, answered as before."""
    from containerd_trio.events import Event
    from containerd_trio.migration.moved_away import moved_away
    from containerd_trio.removals import auto_removed

    exited = timestamps.format_ns(1_000)
    stamped = Event(
        "exit", "new", 1_500, pid=7, status=3, detail={"init": True, "exitedAt": exited}
    )
    assert stamped.exited_ns() == 1_000
    # Through the log's file, as a next server reads it.
    assert Event.from_json(json.loads(stamped.line())).exited_ns() == 1_000
    assert Event("exit", "old", 2_500, pid=8, status=3, detail={"init": True}).exited_ns() == 2_500
    unreadable = Event("exit", "bad", 3_500, pid=9, status=3, detail={"exitedAt": "soon"})
    assert unreadable.exited_ns() == 3_500
    events = [
        stamped,
        Event("delete", "new", 1_600, detail={"autoRemove": True}),
        Event("exit", "old", 2_500, pid=8, status=3, detail={"init": True}),
        Event("delete", "old", 2_600, detail={"autoRemove": True}),
    ]
    removed = auto_removed(events, 10)
    assert removed["new"].exited_at == exited
    assert removed["old"].exited_at == timestamps.format_ns(2_500)
    moved = {"init": True, "moved": True, "exitedAt": exited}
    copy = Event("exit", "away", 1_500, pid=7, status=137, detail=moved)
    assert moved_away([copy], 10)["away"].exited_at == exited


def test_an_auto_removal_whose_exit_no_daemon_saw_is_taken_up_without_pid_or_time() -> None:
    """An init that ended while no daemon ran: the server that found it answered its removal's
    waits with the status alone (its record has no pid, no time: api.md), and the exit says
    ``unseen``, no ``exitedAt``: a next server answers alike, not the event's pid and stamp
    (when it was found), as it still does for an exit without the mark (kept from before
    ``exitedAt``, whose stamp stands for the time)."""
    from containerd_trio.events import Event
    from containerd_trio.model import ExitInfo
    from containerd_trio.removals import auto_removed

    unseen = Event("exit", "found", 1_000, pid=7, status=255, detail={"init": True, "unseen": True})
    assert unseen.unseen() and Event.from_json(json.loads(unseen.line())).unseen()
    kept = Event("exit", "old", 2_000, pid=8, status=255, detail={"init": True})
    assert not kept.unseen()
    events = [
        unseen,
        Event("delete", "found", 1_100, detail={"autoRemove": True}),
        kept,
        Event("delete", "old", 2_100, detail={"autoRemove": True}),
    ]
    removed = auto_removed(events, 10)
    assert removed["found"] == ExitInfo(id="found", exit_status=255)
    assert removed["old"] == ExitInfo(
        id="old", pid=8, exit_status=255, exited_at=timestamps.format_ns(2_000)
    )


def test_removals_keep_moves_and_auto_removed_within_bounds_of_their_own() -> None:
    """autoRemove's removals push out their own oldest, never a move's (and the other way
    round); a removal of an id replaces what was remembered of it, of either kind; a start of
    the id forgets it."""
    from containerd_trio.model import ExitInfo
    from containerd_trio.removals import AUTO_REMOVED_KEPT, MOVED_KEPT, Removals

    def ended(container_id: str, *, moved: bool = False) -> ExitInfo:
        return ExitInfo(id=container_id, exit_status=137 if moved else 0, moved=moved or None)

    removals = Removals({"away": ended("away", moved=True)})
    for n in range(AUTO_REMOVED_KEPT + 1):
        removals.remember(ended(f"rm-{n}"))
    assert removals.get("rm-0") is None and removals.get(f"rm-{AUTO_REMOVED_KEPT}") is not None
    assert removals.get("away") == ended("away", moved=True)
    for n in range(MOVED_KEPT):
        removals.remember(ended(f"moved-{n}", moved=True))
    assert removals.get("away") is None  # the oldest move, past the moves' bound
    assert removals.get("rm-1") == ended("rm-1")
    removals.remember(ended("rm-1", moved=True))  # its id started again here, then moved
    assert removals.get("rm-1") == ended("rm-1", moved=True)
    removals.remember(ended("rm-1"))  # and again, then removed by autoRemove
    assert removals.get("rm-1") == ended("rm-1")
    removals.forget("rm-1")
    assert removals.get("rm-1") is None


def test_the_404_of_a_container_that_moved_says_where_beside_the_sentence() -> None:
    """Its error JSON: the sentence first, as every error's, and ``movedTo``; a plain 404's
    has the sentence alone."""
    from containerd_trio.api import wire
    from containerd_trio.errors import container_not_found

    error = container_not_found("c", moved=True, to="127.0.0.1:8889", at="2026-12-05T00:00:00Z")
    reply = wire.daemon_error_reply(error, "GET", "/containers/c")
    assert (reply.status, json.loads(reply.body)) == (
        404,
        {
            "error": "container 'c' not found: it moved to 127.0.0.1:8889 at 2026-12-05T00:00:00Z",
            "movedTo": "127.0.0.1:8889",
        },
    )
    unknown = container_not_found("c", moved=True)
    assert unknown.message == "container 'c' not found: it moved to another daemon"
    assert json.loads(wire.daemon_error_reply(unknown, "GET", "/").body) == {
        "error": unknown.message
    }
    plain = wire.daemon_error_reply(container_not_found("c"), "GET", "/containers/c")
    assert json.loads(plain.body) == {"error": "container 'c' not found"}


def test_a_terminal_s_literal_characters_get_their_literal_next_again() -> None:
    """What a move types again of a terminal's queue (``_stdin._Literals``): each character
    its settings make special gets the literal-next character before it; a line's end, and
    every character of a terminal with no literal-next (not canonical, no IEXTEN, or
    VLNEXT unset), go as they are."""
    import termios

    from containerd_trio.container._stdin import _Literals

    master, slave = os.openpty()
    try:
        settings = termios.tcgetattr(slave)  # a new pty: canonical, ISIG, IEXTEN, ICRNL
    finally:
        os.close(master)
        os.close(slave)
    literals = _Literals.of(settings)
    assert literals.lnext == b"\x16"
    assert literals.escape(b"a\x03b\x15c\x1a\r\x04\x16d\n") == (
        b"a\x16\x03b\x16\x15c\x16\x1a\x16\r\x16\x04\x16\x16d\n"
    )
    assert literals.escape(b"plain\n") == b"plain\n"
    without = list(settings)
    without[3] &= ~termios.IEXTEN
    assert _Literals.of(without).escape(b"a\x03\n") == b"a\x03\n"
    raw = list(settings)
    raw[3] &= ~termios.ICANON
    assert _Literals.of(raw).escape(b"a\x03\n") == b"a\x03\n"
    no_signals = list(settings)
    no_signals[3] &= ~termios.ISIG
    assert _Literals.of(no_signals).escape(b"a\x03\x15\n") == b"a\x03\x16\x15\n"


def test_one_call_runc_roots_left_by_a_killed_daemon_are_swept(tmp_path: Path) -> None:
    """An exec into a restored container runs runc on a root of its own for the one call
    (``runtime._sweep_stale_roots``): removed after the call, but left behind by a daemon
    killed during one; the next such exec removes those older than the bound, and no other."""
    from containerd_trio.runtime import _sweep_stale_roots

    stale = tmp_path / "web.abc"
    (stale / "web").mkdir(parents=True)
    (stale / "web" / "state.json").write_text("{}")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    fresh = tmp_path / "web.def"
    (fresh / "web").mkdir(parents=True)
    _sweep_stale_roots(tmp_path, older_than=300.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["web.def"]
    _sweep_stale_roots(tmp_path / "missing", older_than=300.0)  # no holder yet: nothing to do


def test_a_printer_s_log_is_checked_run_by_run() -> None:
    """The chaos run's log check: a run counts on, a start again counts from 1 under a new
    pid, a restore carries its count on; a gap, a repeat or a count from 1 within one run
    is out of place (the line's index)."""
    assert first_out_of_place([]) is None
    assert first_out_of_place([(7, 1), (7, 2), (9, 1), (9, 2), (11, 3)]) is None
    assert first_out_of_place([(7, 2)]) == 0
    assert first_out_of_place([(7, 1), (7, 3)]) == 1  # a gap
    assert first_out_of_place([(7, 1), (7, 2), (7, 2)]) == 2  # a repeat
    assert first_out_of_place([(7, 1), (7, 2), (7, 1)]) == 2  # from 1 within a run
    assert first_out_of_place([(7, 1), (7, 2), (9, 2)]) == 2  # a new run's repeat


def test_a_wait_s_run_is_told_apart_by_its_start_too() -> None:
    """The client's name for the run a wait is for: a start again keeps createdAt and
    counts restartCount from 0, so its run differs from the stopped one before it only by
    its startedAt; a startedAt one side lacks (an older daemon's record, upgraded in
    between) does not make another run of it."""
    from containerd_trio.client.http import _Run

    created, first, second = "2026-12-06T08:00:00Z", "2026-12-06T08:00:01Z", "2026-12-06T08:00:09Z"
    stopped = _Run(created, 0, None, first)
    assert stopped.same(_Run(created, 0, None, first))
    assert not stopped.same(_Run(created, 0, None, second))  # started again, ended since
    assert not stopped.same(_Run(created, 1, None, first))  # restarted by its policy
    assert not stopped.same(_Run("2026-12-06T08:00:05Z", 0, None, second))  # a start with a body
    assert stopped.same(_Run(created, 0, None, None))
    assert _Run(created, 0, None).same(stopped)
