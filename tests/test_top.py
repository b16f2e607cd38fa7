"""GET /containers/{id}/top and ``ctr-trio top``: every process of a container, as ps -ef."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from containerd_trio import pstable
from containerd_trio.client.output import TOP_HEADERS, cpu_time, start_time
from containerd_trio.errors import InvalidRequest, RuntimeTimeout
from containerd_trio.pstable import (
    ANY,
    ONE_WORD,
    Shape,
    check_options,
    column_shapes,
    parse_table,
    quick_pids,
    split_options,
)
from containerd_trio.top import terminal_name

from .helpers import (
    BundleFactory,
    RunningDaemon,
    now,
    runc,
    start_container,
    wait_exit,
    wait_output,
    zombie_children,
)
from .test_cli import run_cli

#: An init that starts two children of its own, which the daemon knows nothing of.
FAMILY = ("sh", "-c", "sleep 1001 & sleep 1002 & echo ready; wait")
#: ps aux's titles.
AUX_TITLES = ["USER", "PID", "%CPU", "%MEM", "VSZ", "RSS", "TTY", "STAT", "START", "TIME",
              "COMMAND"]  # fmt: skip


class Family(NamedTuple):
    """A FAMILY container once both children forked, with a ``sleep 1003`` added by exec."""

    started: dict[str, Any]  # the container, as its start answered
    init: int
    exec_pid: int
    listed: list[int]  # runc ps's pids (the truth of which processes are the container's)


async def start_family(
    daemon: RunningDaemon, container_id: str, make_bundle: BundleFactory
) -> Family:
    started = await start_container(daemon.client, container_id, make_bundle(FAMILY))
    await wait_output(daemon.client, container_id, "ready")
    added = await daemon.client.put(
        f"/containers/{container_id}/processes", json={"args": ["sleep", "1003"]}
    )
    assert added.status_code == 201, added.text
    ps = runc(daemon.config.state_dir, "ps", "--format", "json", container_id)
    init = started["processes"][0]["pid"]
    return Family(started, init, added.json()["pid"], sorted(json.loads(ps)))


async def test_top_lists_every_process_not_only_the_daemons(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    client = daemon.client
    family = await start_family(daemon, "family", make_bundle)
    init = family.init
    response = await client.get("/containers/family/top")
    assert response.status_code == 200, response.text
    processes = response.json()["processes"]
    # runc ps is the truth for which processes; the answer has them all, the init first.
    assert sorted(p["pid"] for p in processes) == family.listed
    assert processes[0]["pid"] == init and processes[0]["args"] == list(FAMILY)
    by_args = {" ".join(p["args"]): p for p in processes}
    assert by_args["sleep 1001"]["ppid"] == init and by_args["sleep 1002"]["ppid"] == init
    assert by_args["sleep 1003"]["pid"] == family.exec_pid
    created = _seconds(family.started["createdAt"])
    for process in processes:
        assert process["uid"] == 0 and process["user"] == "root"
        assert process["command"] == process["args"][0]
        assert "tty" not in process  # pipes, no terminal
        assert 0 <= process["cpuPercent"] <= 99 and process["cpuSeconds"] >= 0
        # Clock ticks since boot, turned into a time: between the start and now.
        assert created - 1 < _seconds(process["startedAt"]) < time.time() + 1

    result = await run_cli("--address", daemon.url, "top", "family")
    assert result.code == 0, result.err
    header, *rows = result.out.splitlines()
    assert header.split() == list(TOP_HEADERS)
    assert len(rows) == len(processes)
    assert rows[0].split()[:3] == ["root", str(init), str(processes[0]["ppid"])]
    assert rows[0].endswith(" ".join(FAMILY))
    assert rows[0].split()[5:7] == ["?", "00:00:00"]


async def test_top_of_a_stopped_or_unknown_container(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    since = now()
    pid = (await start_container(client, "gone", make_bundle(["true"])))["processes"][0]["pid"]
    await wait_exit(client, "gone", pid, since)
    response = await client.get("/containers/gone/top")
    assert response.status_code == 409
    assert response.json()["error"] == "container 'gone' is stopped: it has no processes"
    assert (await client.get("/containers/ghost/top")).status_code == 404
    response = await client.get("/containers/gone/top?all=1")
    assert response.status_code == 400


async def test_top_of_a_paused_container(client: httpx.AsyncClient, bundle: Path) -> None:
    await start_container(client, "still", bundle)
    await client.patch("/containers/still", json={"status": "paused"})
    response = await client.get("/containers/still/top")
    assert response.status_code == 200, response.text
    assert [p["args"] for p in response.json()["processes"]] == [["sleep", "100000"]]
    # ps reads a frozen process's /proc as any other's.
    response = await client.get("/containers/still/top", params={"ps_args": "-o pid,stat,args"})
    assert response.status_code == 200, response.text
    assert [row[2] for row in response.json()["processes"]] == ["sleep 100000"]


async def test_top_with_ps_options_shows_pss_table_of_the_container_only(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    client = daemon.client
    init, exec_pid, listed = (await start_family(daemon, "psopts", make_bundle))[1:]
    assert exec_pid in listed and len(listed) == 4

    async def table(ps_args: str) -> tuple[list[str], list[list[str]]]:
        response = await client.get("/containers/psopts/top", params={"ps_args": ps_args})
        assert response.status_code == 200, (ps_args, response.text)
        answer = response.json()
        assert set(answer) == {"titles", "processes"}
        for row in answer["processes"]:
            assert len(row) == len(answer["titles"]), row
        return answer["titles"], answer["processes"]

    def pids(titles: list[str], rows: list[list[str]]) -> list[int]:
        return sorted(int(row[titles.index("PID")]) for row in rows)

    # aux: ps's own titles; the container's processes, the exec'd one among them, and no
    # process of the host (this test process is the daemon's).
    titles, rows = await table("aux")
    assert titles == AUX_TITLES
    assert pids(titles, rows) == listed and os.getpid() not in pids(titles, rows)
    by_pid = {int(row[1]): row for row in rows}
    assert by_pid[init][-1] == " ".join(FAMILY)  # COMMAND takes the rest of the line
    assert by_pid[exec_pid][-1] == "sleep 1003" and by_pid[exec_pid][0] == "root"

    titles, rows = await table("-ef")
    assert titles == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert pids(titles, rows) == listed

    titles, rows = await table("-o pid,comm")
    assert titles == ["PID", "COMMAND"]
    assert sorted(rows) == sorted([str(p), "sh" if p == init else "sleep"] for p in listed)

    # A column whose values hold spaces, not the last: each its own column, as ps shows it.
    titles, rows = await table("-o pid,lstart,args")
    assert titles == ["PID", "STARTED", "COMMAND"]
    for pid, started, command in rows:  # each as ps prints it alone
        assert (started, command) == (_ps_value(int(pid), "lstart"), _ps_value(int(pid), "args"))
    assert [row[2] for row in rows if int(row[0]) == init] == [" ".join(FAMILY)]

    # A command cut to its width before a right-aligned last column: whole in its column.
    titles, rows = await table("-o pid,cmd:12,etime")
    assert titles == ["PID", "CMD", "ELAPSED"]
    assert [row[1] for row in rows if int(row[0]) == init] == [" ".join(FAMILY)[:12].rstrip()]
    assert all(re.fullmatch(r"[0-9:-]+", row[2]) for row in rows), rows

    # A command cut to its width before a right-aligned pid: its words all the command's
    # ("sh -c s 22105" was refused: "Unexpected pid '-c s 22105'").
    titles, rows = await table("-o cmd:7,pid")
    assert titles == ["CMD", "PID"]
    assert sorted(rows) == sorted(
        [" ".join(FAMILY)[:7] if p == init else "sleep 1", str(p)] for p in listed
    )

    # A command cut to its width, filling it, before lstart: lstart's date whole, its double
    # space before a day under 10 no padding between columns.
    titles, rows = await table("-o pid,cmd:10,lstart")
    assert titles == ["PID", "CMD", "STARTED"]
    for pid, command, started in rows:
        assert started == _ps_value(int(pid), "lstart")
        assert command == _ps_value(int(pid), "args")[:10].rstrip()

    titles, rows = await table("  -eo\tpid,ppid,rss,args ")  # split on white space
    assert titles == ["PID", "PPID", "RSS", "COMMAND"]
    assert pids(titles, rows) == listed
    assert sorted(row[3] for row in rows) == [
        " ".join(FAMILY), "sleep 1001", "sleep 1002", "sleep 1003"
    ]  # fmt: skip
    assert all(row[2].isdigit() for row in rows)

    # A forest cannot be had in ps's quick-pid mode: ps lists the whole host then, and only
    # the container's lines are kept.
    titles, rows = await table("axf")
    assert pids(titles, rows) == listed and os.getpid() not in pids(titles, rows)

    # Left out or blank: the answer it always was.
    for params in ({}, {"ps_args": ""}, {"ps_args": " "}):
        response = await client.get("/containers/psopts/top", params=params)
        assert sorted(p["pid"] for p in response.json()["processes"]) == listed


async def test_top_with_ps_options_that_make_no_table(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    client = daemon.client
    await start_container(client, "psbad", make_bundle())

    async def refused(ps_args: str) -> str:
        response = await client.get("/containers/psbad/top", params={"ps_args": ps_args})
        assert response.status_code == 400, (ps_args, response.text)
        message: str = response.json()["error"]
        return message

    no_pid = "Couldn't find PID field in ps output"
    for ps_args in ("-o ppid,comm", "--help", "V", "L"):
        assert await refused(ps_args) == no_pid, ps_args
    # ps's own first line, as docker says it.
    assert await refused("-o nope") == 'ps: error: unknown user-defined format specifier "nope"'
    assert await refused("-o comm=PID") == 'specifying "comm=PID" is not allowed'
    assert await refused("aux\0") == "ps_args holds a NUL: 'aux\\x00'"

    # A stopped or unknown container as without options.
    await client.delete("/containers/psbad", params={"timeout": "0"})
    response = await client.get("/containers/psbad/top", params={"ps_args": "aux"})
    assert response.status_code == 404


async def test_top_with_ps_options_that_select_no_process_is_an_empty_table(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """Options that select none of the container's processes give ps's titles and no
    process, whether they select a process of the host's (``-p 1``) or none at all (``-C``
    a name nothing runs as, ``-u`` a user no process runs as, ``r`` with nothing running),
    for which procps's ps prints its header and exits 1, saying nothing. Before, those were
    a 400 "ps: exit status 1", which named nothing wrong (``-u nobody`` was a 200 or that
    400 by whether a process of the host's ran as nobody)."""
    client = daemon.client
    await start_container(client, "psnone", make_bundle())
    for ps_args in ("-p 1", "-C no-such-command-t11", "-U 4000123", "-C x r"):
        response = await client.get("/containers/psnone/top", params={"ps_args": ps_args})
        assert response.status_code == 200, (ps_args, response.text)
        answer = response.json()
        assert answer["processes"] == [] and "PID" in answer["titles"], (ps_args, answer)
    # A refusal of ps's own is still its 400, in its words.
    response = await client.get("/containers/psnone/top", params={"ps_args": "-t pts/9999"})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "ps: error: TTY could not be found"
    await client.delete("/containers/psnone", params={"timeout": "0"})


async def test_ctr_trio_top_gives_the_words_after_the_id_to_ps(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    init, _, listed = (await start_family(daemon, "pscli", make_bundle))[1:]

    result = await run_cli("--address", daemon.url, "top", "pscli", "-o", "pid,rss,args")
    assert result.code == 0, result.err
    header, *lines = result.out.splitlines()
    assert header.split() == ["PID", "RSS", "COMMAND"]
    assert sorted(int(line.split()[0]) for line in lines) == listed
    assert any(line.endswith(" ".join(FAMILY)) for line in lines)
    # A column with spaces, not the last: aligned, its header over it, as ps prints it.
    result = await run_cli("--address", daemon.url, "top", "pscli", "-o", "pid,lstart,comm")
    assert result.code == 0, result.err
    header, *lines = result.out.splitlines()
    assert header.split() == ["PID", "STARTED", "COMMAND"]
    at = header.index("COMMAND")
    for line in lines:
        pid, started = line[:at].split(maxsplit=1)
        assert started.rstrip() == _ps_value(int(pid), "lstart")
        assert line[at:] == ("sh" if int(pid) == init else "sleep")
    result = await run_cli("--address", daemon.url, "containers", "top", "pscli", "aux")
    assert result.code == 0, result.err
    assert result.out.splitlines()[0].split() == AUX_TITLES
    # ctr-trio's own options go before the id: --json is ours there.
    result = await run_cli("--address", daemon.url, "top", "--json", "pscli", "-o", "pid,comm")
    assert result.code == 0, result.err
    assert sorted(json.loads(result.out)["processes"]) == sorted(
        [str(p), "sh" if p == init else "sleep"] for p in listed
    )
    # After it, ps's (ps has no --json: it says so, a 400).
    result = await run_cli("--address", daemon.url, "top", "pscli", "--json")
    assert (result.code, result.out) == (1, "")
    assert result.err.startswith("ctr-trio: ps: ")
    result = await run_cli("--address", daemon.url, "top", "pscli", "-o", "ppid")
    assert (result.code, result.out) == (1, "")
    assert result.err == "ctr-trio: Couldn't find PID field in ps output\n"


async def test_ps_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """ps past its deadline is killed and reaped; past MAX_OUTPUT too (a real ps aux)."""
    with pytest.raises(RuntimeTimeout, match=r"^ps did not finish within 0 seconds"):
        await pstable._ps(["aux"], 0)
    monkeypatch.setattr(pstable, "MAX_OUTPUT", 100)
    with pytest.raises(InvalidRequest, match=r"^ps printed more than"):
        await pstable._ps(["aux"], 10)
    assert zombie_children() == []
    status, output, error = await pstable._ps(["-o", "pid=", "-q", str(os.getpid())], 10)
    assert (status, output.split(), error) == (0, [str(os.getpid()).encode()], b"")


def test_ps_columns() -> None:
    assert cpu_time(0) == "00:00:00"
    assert cpu_time(3725.9) == "01:02:05"
    assert cpu_time(2 * 86400 + 61) == "2-00:01:01"
    today = time.mktime((2026, 11, 29, 15, 0, 0, 0, 0, -1))
    assert start_time(_stamp(time.mktime((2026, 11, 29, 14, 5, 0, 0, 0, -1))), today) == "14:05"
    assert start_time(_stamp(time.mktime((2026, 11, 28, 9, 0, 0, 0, 0, -1))), today) == "Nov28"
    assert start_time(_stamp(time.mktime((2025, 3, 1, 9, 0, 0, 0, 0, -1))), today) == "2025"
    assert terminal_name(0) is None
    assert terminal_name((136 << 8) | 3) == "pts/3"
    assert terminal_name((137 << 8) | 1) == "pts/257"
    assert terminal_name((4 << 8) | 1) == "tty1"


def _ps_value(pid: int, column: str) -> str:
    """ps's value of one column of a process, as it prints it alone (no header)."""
    output = subprocess.run(
        ["ps", "-o", f"{column}=", "-q", str(pid)], capture_output=True, text=True, check=True
    ).stdout
    return output.strip()


def _stamp(seconds: float) -> str:
    from containerd_trio.timestamps import format_ns

    return format_ns(int(seconds * 1e9))


def _seconds(stamp: str) -> float:
    from containerd_trio.timestamps import parse_ns

    return parse_ns(stamp) / 1e9


# --- ps's own table (ps_args) ----------------------------------------------------------------


def test_ps_options_are_split_on_ascii_white_space() -> None:
    assert split_options("aux") == ["aux"]
    assert split_options("  -o  pid,args\t-e\n") == ["-o", "pid,args", "-e"]
    assert split_options("") == [] and split_options(" \t\r\n") == []
    # As docker's fields: a no-break space is part of a word, not a gap between two.
    assert split_options("-o\xa0pid") == ["-o\xa0pid"]


def test_quick_pid_mode_only_where_the_pids_fit_in_an_argument() -> None:
    assert quick_pids([300, 301]) == ["-q300,301"]
    assert quick_pids([]) == []  # no -q with nothing after it: ps would refuse it
    many = list(range(4_000_000, 4_020_000))  # 20000 pids of 7 digits: past 128 KiB
    assert quick_pids(many) == []
    assert quick_pids(many[:16000]) == ["-q" + ",".join(map(str, many[:16000]))]


def test_a_column_renamed_pid_is_refused_as_docker_refuses_it() -> None:
    for refused in (["-o", "comm=PID"], ["-ocomm=PID"], ["o", "user=PIDS"], ["-o", "pid,ppid=PID"]):
        with pytest.raises(InvalidRequest, match=r'^specifying ".*=PID.*" is not allowed$'):
            check_options(refused)
    with pytest.raises(InvalidRequest, match=r'^specifying "comm=PID" is not allowed$'):
        check_options(["--format=comm=PID"])
    for taken in (["-o", "pid=PID"], ["-opid=PID"], ["--format=pid=PID"], ["-eopid=PID,args"]):
        check_options(taken)
    check_options(["-o", "pid,comm=Pid", "aux"])  # PID is the title docker looks for, not Pid
    with pytest.raises(InvalidRequest, match=r"^ps_args holds a NUL: 'a\\x00x'$"):
        check_options(["aux", "a\0x"])  # no program's argument can hold one


AUX = """\
USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND
root           1  0.0  0.0  39984 11652 ?        S<Ll 12:34   0:05 /init --daemon
root         300  0.0  0.0   5004  3920 ?        Ss   15:21   0:00 sh -c echo  two  spaces
nobody       301  0.0  0.0   5004  3920 pts/0    S+   15:21   0:00 sleep 9
"""


def test_ps_table_keeps_the_header_and_the_containers_lines() -> None:
    table = parse_table(AUX, [300, 301, 999])
    assert table.titles == AUX.splitlines()[0].split()
    assert table.processes == [
        ["root", "300", "0.0", "0.0", "5004", "3920", "?", "Ss", "15:21", "0:00",
         "sh -c echo  two  spaces"],  # the last column takes the rest of the line, as printed
        ["nobody", "301", "0.0", "0.0", "5004", "3920", "pts/0", "S+", "15:21", "0:00",
         "sleep 9"],
    ]  # fmt: skip
    narrow = parse_table("  PID COMMAND\n    1 init\n  300 sh\n", [1])
    assert (narrow.titles, narrow.processes) == (["PID", "COMMAND"], [["1", "init"]])
    # PID anywhere: the first column titled so.
    middle = parse_table(" PPID   PID   RSS COMMAND\n    1   300  1024 sh -c x\n", [300])
    assert middle.processes == [["1", "300", "1024", "sh -c x"]]
    # A line short of columns (an empty comm) gets empty ones; blank lines are no processes.
    short = parse_table("  PID COMMAND\n  300 \n\n   \n", [300])
    assert short.processes == [["300", ""]]
    assert parse_table("  PID COMMAND\n", [300]).processes == []


#: ps's tables with a column other than the last whose values hold spaces (lstart's date, a
#: command cut to its width), as procps-ng 4.0.2 printed them.
STARTED = """\
  PID                  STARTED COMMAND
 5747 Thu Dec  3 01:25:22 2026 sh -c sleep 1001 & echo ready; wait
 5752 Thu Dec 13 01:25:22 2026 sleep 1001
"""
COMMAND_FIRST = """\
COMMAND                       PID                  STARTED USER     WCHAN                COMMAND
sh -c sleep 1001 & echo rea  5747 Thu Dec  3 01:25:22 2026 root     sigsuspend.isra.0    sh
sleep 1001                   5752 Thu Dec  3 01:25:22 2026 root     hrtimer_nanosleep    sleep
"""
NAME_THEN_STARTED = """\
COMMAND                          STARTED   PID
sh              Thu Dec  3 01:25:22 2026  5747
sleep           Thu Dec  3 01:25:22 2026  5752
"""
#: Two columns but the last with spaces, a command cut to its width among them.
WIDE = """\
  PID                  STARTED  PPID COMMAND                     USER     %CPU   RSS TT       STAT COMMAND
 5747 Thu Dec  3 01:25:22 2026  5702 sh -c sleep 1001 & echo rea root      0.0  1640 ?        Ss   sh -c sleep 1001 & echo ready; wait
 5752 Thu Dec  3 01:25:22 2026  5747 sleep 1001                  root      0.0  1448 ?        S    sleep 1001
"""  # noqa: E501  (ps's own lines)
#: A VSZ and an RSS wider than their columns: ps pushes the rest of the line on, then takes
#: the TTY's padding back.
OVERFLOW = """\
USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND
root         300  0.0  0.5 1234567 123456 ?      Ss   15:21   0:00 sh -c echo  two  spaces
"""


def test_ps_table_keeps_a_column_s_spaces_in_that_column() -> None:
    """A value with spaces in a column but the last (lstart's date, args cut to its width) was
    cut at its first space and the rest given to the next columns, as docker's daemon cuts it
    (``["5747", "Thu", "Dec 3 01:25:22 2026 sh -c ..."]``): ps's columns are where its header
    puts them, so each word goes to the column it is under."""
    date = "Thu Dec  3 01:25:22 2026"  # as ps printed it, its two spaces kept
    assert parse_table(STARTED, [5747, 5752]).processes == [
        ["5747", date, "sh -c sleep 1001 & echo ready; wait"],
        ["5752", "Thu Dec 13 01:25:22 2026", "sleep 1001"],
    ]
    assert parse_table(COMMAND_FIRST, [5747, 5752]).processes == [
        ["sh -c sleep 1001 & echo rea", "5747", date, "root", "sigsuspend.isra.0", "sh"],
        ["sleep 1001", "5752", date, "root", "hrtimer_nanosleep", "sleep"],
    ]
    # Both the name (left in its column) and the date (right in its) could take a word between
    # them: the one whose column it lies in, by the spaces around it.
    assert parse_table(NAME_THEN_STARTED, [5747, 5752]).processes == [
        ["sh", date, "5747"],
        ["sleep", date, "5752"],
    ]
    # A word between two titles is the left one's where its values start under its title:
    # the command's, not the user's (root is as wide as USER: both its ends are kept).
    assert parse_table(WIDE, [5747, 5752]).processes == [
        ["5747", date, "5702", "sh -c sleep 1001 & echo rea", "root", "0.0", "1640", "?", "Ss",
         "sh -c sleep 1001 & echo ready; wait"],
        ["5752", date, "5747", "sleep 1001", "root", "0.0", "1448", "?", "S", "sleep 1001"],
    ]  # fmt: skip
    # Values wider than their columns push the rest on: still one word a column, the command
    # the rest of the line.
    assert parse_table(OVERFLOW, [300]).processes == [
        ["root", "300", "0.0", "0.5", "1234567", "123456", "?", "Ss", "15:21", "0:00",
         "sh -c echo  two  spaces"],
    ]  # fmt: skip


#: ``ps -o pid,cmd:12,etime``: a command cut to its width, then a right-aligned last column;
#: the cut command's words lie under CMD, all of them, none under ELAPSED.
CUT_BEFORE_RIGHT = """\
  PID CMD              ELAPSED
 4426 sleep 300          00:03
22105 sh -c while        15:52
"""


def test_ps_table_keeps_a_cut_command_before_a_right_aligned_last_column() -> None:
    """The command's first word lay under its title, so the line was read as docker's split,
    and the rest of it given to the last column: ``["22105", "sh", "-c while        15:52"]``.
    A last column's value lies under its title too (left of ELAPSED, ``-c`` is not)."""
    assert parse_table(CUT_BEFORE_RIGHT, [4426, 22105]).processes == [
        ["4426", "sleep 300", "00:03"],
        ["22105", "sh -c while", "15:52"],
    ]


#: ``ps -o cmd:7,pid`` as procps-ng 4.0.2 printed it: the command cut to 7 characters, its
#: last word a space from the pid, which may start anywhere left of its right-aligned title.
CUT_BEFORE_PID = """\
CMD       PID
sh -c w 23350
sleep 1 12877
"""
#: ``ps -o pid,cmd:7,ppid``, the second process the first's child.
CUT_BEFORE_PPID = """\
  PID CMD      PPID
23350 sh -c w     1
14067 sleep 1 23350
"""


def test_ps_table_gives_a_one_word_column_one_word() -> None:
    """``sh`` | ``-c w 23350`` cost as much as ``sh -c w`` | ``23350`` by ps's layout (the
    pid's value right-aligned, the command's left, none crossing the other's title), and the
    first was taken: a 400, ``Unexpected pid '-c w 23350'``. A pid is one word; so is any
    column's value but of the specifiers that may hold spaces, as the options name them."""
    shapes = column_shapes(["-o", "cmd:7,pid"])
    assert shapes == [("CMD", Shape(cut=7)), ("PID", ONE_WORD)]
    expected = [["sh -c w", "23350"], ["sleep 1", "12877"]]
    assert parse_table(CUT_BEFORE_PID, [23350, 12877], shapes).processes == expected
    # Without the options, a PID column's values are still one word.
    assert parse_table(CUT_BEFORE_PID, [23350, 12877]).processes == expected
    # The same before a PPID, which only the options tell is one word (its words were
    # ["14067", "sleep", "1 23350"]).
    shapes = column_shapes(["-o", "pid,cmd:7,ppid"])
    assert parse_table(CUT_BEFORE_PPID, [23350, 14067], shapes).processes == [
        ["23350", "sh -c w", "1"],
        ["14067", "sleep 1", "23350"],
    ]


def test_the_columns_ps_options_ask_for() -> None:
    # -o, o, --format, glued or not, after flags (-eo, axo), one after another.
    for options in (
        ["-o", "pid,args"], ["-opid,args"], ["-eo", "pid,args"], ["o", "pid,args"],
        ["axo", "pid,args"], ["--format", "pid,args"], ["--format=pid,args"],
        ["-o", "pid", "-o", "args"], ["-e", "-o", "pid,,args", "--sort", "pid"],
    ):  # fmt: skip
        assert column_shapes(options) == [("PID", ONE_WORD), ("COMMAND", ANY)], options
    # Renamed, a width given: the title as given; another specifier's title unknown here.
    assert column_shapes(["-o", "pid=X,ucmd:4=Y,rss:9,lstart"]) == [
        ("X", ONE_WORD), ("Y", Shape(cut=4)), (None, ONE_WORD), ("STARTED", LSTART)
    ]  # fmt: skip
    # -O: ps's columns around the ones given.
    assert [title for title, _ in column_shapes(["-O", "cmd:10"]) or []] == [
        "PID", "CMD", None, None, None, "COMMAND"
    ]  # fmt: skip
    # ps's own formats: nothing known of the columns but from the header.
    for options in (["aux"], ["-ef"], ["-eLf"], ["axjf"], ["-e", "--sort", "pid"], []):
        assert column_shapes(options) is None, options
    # An option read as a format that is none (a user's name, root: r, o and "ot") names a
    # column more than the header has: the header alone is read then.
    misread = column_shapes(["-u", "root", "-o", "cmd:7,pid"])
    assert misread is not None and len(misread) == 3
    assert parse_table(CUT_BEFORE_PID, [23350], misread).processes == [["sh -c w", "23350"]]


#: lstart's values: five words.
LSTART = Shape(most=5, least=5)
#: ps's tables of a command cut to its width, filling it, before lstart (a day before the 10th:
#: two spaces before it), as procps-ng 4.0.2 printed them: ``-o pid,cmd:10,lstart``,
#: ``-o cmd:8,lstart,pid`` and ``-e -o pid,comm,lstart`` (comm's own width, 15).
CUT_BEFORE_STARTED = """\
  PID CMD                         STARTED
23350 sh -c whil Sat Dec  5 20:28:51 2026
12877 sleep 1001 Sat Dec  5 20:33:37 2026
"""
CUT_STARTED_PID = """\
CMD                       STARTED   PID
sh -c wh Sat Dec  5 20:28:51 2026 23350
sleep 10 Sat Dec  5 20:33:37 2026 12877
"""
COMM_BEFORE_STARTED = """\
  PID COMMAND                          STARTED
    3 pool_workqueue_ Sat Dec  5 07:53:52 2026
    4 kworker/R-rcu_g Sat Dec  5 07:53:52 2026
"""


def test_ps_table_keeps_lstart_s_date_whole_after_a_cut_command() -> None:
    """A command cut to its width, filling it, is a space from lstart's date; the date's own
    double space (``Dec  5``) was taken for the padding between the two columns:
    ``["23350", "sh -c whil Sat Dec", "5 20:28:51 2026"]``. A command ps cuts to a width (its
    ``:N``, or its own: 27 for args, 15 for comm) is the words within that width of its start,
    and lstart's date five words."""
    first, second = "Sat Dec  5 20:28:51 2026", "Sat Dec  5 20:33:37 2026"
    shapes = column_shapes(["-o", "pid,cmd:10,lstart"])
    assert shapes == [("PID", ONE_WORD), ("CMD", Shape(cut=10)), ("STARTED", LSTART)]
    assert parse_table(CUT_BEFORE_STARTED, [23350, 12877], shapes).processes == [
        ["23350", "sh -c whil", first],
        ["12877", "sleep 1001", second],
    ]
    shapes = column_shapes(["-o", "cmd:8,lstart,pid"])
    assert parse_table(CUT_STARTED_PID, [23350, 12877], shapes).processes == [
        ["sh -c wh", first, "23350"],
        ["sleep 10", second, "12877"],
    ]
    shapes = column_shapes(["-e", "-o", "pid,comm,lstart"])
    assert shapes is not None
    assert parse_table(COMM_BEFORE_STARTED, [3, 4], shapes).processes == [
        ["3", "pool_workqueue_", "Sat Dec  5 07:53:52 2026"],
        ["4", "kworker/R-rcu_g", "Sat Dec  5 07:53:52 2026"],
    ]
    # Each shape alone is enough: the cut command's width; lstart's five words.
    for alone in ([*shapes[:2], ("STARTED", ANY)], [shapes[0], ("COMMAND", ANY), shapes[2]]):
        assert parse_table(COMM_BEFORE_STARTED, [3], alone).processes[0][1:] == [
            "pool_workqueue_", "Sat Dec  5 07:53:52 2026"
        ]  # fmt: skip
    # A command last is not cut (it takes the rest of the line); lstart in a format of ps's
    # -D (procps-ng 4.0.3 on) is of any words.
    assert column_shapes(["-o", "pid,cmd:10"]) == [("PID", ONE_WORD), ("CMD", ANY)]
    assert (column_shapes(["-D", "%F", "-o", "lstart,pid"]) or [])[0] == ("STARTED", ANY)
    assert column_shapes(["-o", "lstart,start,bsdstart,pid"]) == [
        ("STARTED", LSTART), ("STARTED", Shape(most=2)), ("START", Shape(most=2)),
        ("PID", ONE_WORD),
    ]  # fmt: skip


#: ``ps -o cmd:100,pid``: a command of 50 words cut to 100 characters, before the pid.
MANY_WORDS_CUT = f"""\
CMD{" " * 97}    PID
sh -c {"a b c d e f g h i j k l m n o p q r s t u v w x y z "}{"a b c d e f g h i j k l m n o p q r s t u"}  12160
/process_api --firecracker-init --addr 0.0.0.0:2024 --max-ws-buffer-size 32768 --block-local-connect     1
"""  # noqa: E501  (ps's own lines)


def test_ps_table_gives_a_command_cut_to_its_width_all_its_words() -> None:
    """The search gave the columns but the last 24 words more than one at most between them:
    the rest of a longer command went to the pid (a 400, ``Unexpected pid 'x y z a b ...``).
    A column whose shape bounds its words may take those (a command cut to 100 characters,
    50)."""
    command = "sh -c " + " ".join("abcdefghijklmnopqrstuvwxyz" + "abcdefghijklmnopqrstu")
    init = MANY_WORDS_CUT.split("\n")[2][:100].rstrip()
    shapes = column_shapes(["-o", "cmd:100,pid"])
    assert parse_table(MANY_WORDS_CUT, [12160, 1], shapes).processes == [
        [command, "12160"],
        [init, "1"],
    ]


#: ``ps axf`` as it printed a line pushed on by a value wider than its column (the server
#: answered 500: "min() arg is an empty sequence", with fewer words before the last title than
#: titles before it).
PUSHED = """\
  PID TTY      STAT   TIME COMMAND
 7024 ?xxx        R      0:00              \\_ ps axf
"""


def test_ps_table_of_a_line_pushed_past_the_last_title() -> None:
    assert parse_table(PUSHED, [7024]).processes == [["7024", "?xxx", "R", "0:00", "\\_ ps axf"]]


@settings(max_examples=400, deadline=None)
@given(
    table=st.sampled_from(
        [
            (AUX, ["aux"]),
            (STARTED, ["-o", "pid,lstart,args"]),
            (COMMAND_FIRST, []),
            (NAME_THEN_STARTED, ["-o", "comm,lstart,pid"]),
            (WIDE, []),
            (OVERFLOW, ["aux"]),
            (PUSHED, ["axf"]),
            (CUT_BEFORE_RIGHT, ["-o", "pid,cmd:12,etime"]),
            (CUT_BEFORE_PID, ["-o", "cmd:7,pid"]),
            (CUT_BEFORE_PPID, ["-o", "pid,cmd:7,ppid"]),
            (CUT_BEFORE_STARTED, ["-o", "pid,cmd:10,lstart"]),
            (CUT_STARTED_PID, ["-o", "cmd:8,lstart,pid"]),
            (COMM_BEFORE_STARTED, ["-o", "pid,comm,lstart"]),
            (MANY_WORDS_CUT, ["-o", "cmd:100,pid"]),
        ]
    ),
    edits=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=200),
            st.sampled_from([" ", "  ", "      ", "x", "xxxxxxxxxxxx", "a b"]),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_ps_table_places_every_word_of_any_line(
    table: tuple[str, list[str]], edits: list[tuple[int, str]]
) -> None:
    """Whatever ps's line (values wider or narrower than their columns, words added, unlike
    the shapes its options tell), each row has a column per title and keeps every word of its
    line, in order: no 500."""
    header, line = table[0].split("\n")[:2]
    for at, text in edits:
        at = min(at, len(line))
        line = line[:at] + text + line[at:]
    titles = header.split()
    # Whichever word the PID column gets, if a number, is one of the container's.
    wanted = [int(word) for word in line.split() if word.isascii() and word.isdigit()]
    refused = ""
    try:
        rows = parse_table(f"{header}\n{line}\n", wanted, column_shapes(table[1])).processes
    except InvalidRequest as exc:  # a PID column an edit made no number: ps's fault, a 400
        refused = exc.message
        rows = []
    if refused:
        assert "pid" in refused
        return
    assert len(rows) == 1
    for row in rows:
        assert len(row) == len(titles)
        assert " ".join(" ".join(row).split()) == " ".join(line.split())


def test_ps_table_keeps_the_threads_of_the_containers_processes() -> None:
    # ps m: a process's threads follow it, with - for a pid.
    output = """\
  PID TTY      STAT   TIME COMMAND
    1 ?        -      0:05 /init
    - -        S<Ll   0:05 -
  300 ?        -      0:00 sh
    - -        S      0:00 -
    - -        S      0:00 -
"""
    assert parse_table(output, [300]).processes == [
        ["300", "?", "-", "0:00", "sh"],
        ["-", "-", "S", "0:00", "-"],
        ["-", "-", "S", "0:00", "-"],
    ]


@pytest.mark.parametrize(
    "output",
    [
        "  PPID COMMAND\n    1 init\n",  # -o ppid,comm
        "\nUsage:\n ps [options]\n",  # --help
        "ps from procps-ng 4.0.2\n",  # V
        "",
    ],
)
def test_ps_output_without_a_pid_column_is_refused(output: str) -> None:
    with pytest.raises(InvalidRequest, match=r"^Couldn't find PID field in ps output$"):
        parse_table(output, [1])


def test_a_pid_column_of_no_pids_is_refused() -> None:
    with pytest.raises(InvalidRequest, match=r"^Unexpected pid 'sh' in ps output$"):
        parse_table("  PID COMMAND\n  300 sh\nsh 300\n", [300])
