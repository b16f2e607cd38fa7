"""Query parameters: each route declares its own, and anything else is refused by name.

The live tests run a real daemon on a loopback port; the parsing of moments (``since``,
``until``) is tested on its own first.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from containerd_trio import timestamps
from containerd_trio.api import routes

from .helpers import (
    BundleFactory,
    RunningDaemon,
    collect_events,
    now,
    start_container,
    wait_output,
)

NOW = timestamps.parse_ns("2026-11-28T15:00:00Z")


@pytest.mark.parametrize(
    ("text", "seconds_back"),
    [
        ("90s", 90),
        ("10m", 600),
        ("1h30m", 5400),
        ("2d", 172800),
        ("0s", 0),
        ("1d1h1m1s", 90061),
        # in any order, as Go's durations (docker's)
        ("30m1h", 5400),
        ("1s1m1h1d", 90061),
    ],
)
def test_a_duration_is_that_long_before_now(text: str, seconds_back: int) -> None:
    assert timestamps.parse_time(text, now=NOW) == NOW - seconds_back * 10**9


@pytest.mark.parametrize("text", ["999999999999d", "24h999999999999d"])
def test_a_duration_back_beyond_year_one_is_the_beginning(text: str) -> None:
    """What a timestamp can name ends at year 1; a time further back cannot be written (the
    fuzzer's logs request got a 200 whose stream then broke on it)."""
    since = timestamps.parse_time(text, now=NOW)
    assert since == timestamps.parse_ns("0001-01-01T00:00:00Z")
    assert timestamps.format_ns(since).startswith("0001-01-01T00:00:00")


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59.999999999Z"),
        ("0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00Z"),
        # RFC 3339's years are 0000-9999: year 0 is before the first moment, as written
        ("0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
        ("0000-02-29T12:00:00+05:00", "0001-01-01T00:00:00Z"),  # year 0 is a leap year
    ],
)
def test_a_timestamp_beyond_the_written_range_is_its_nearest_end(text: str, moment: str) -> None:
    """An offset can carry a year-9999 time into year 10000 (or a year-1 time into year 0):
    written, year 10000 sorts before every time of ours, and the logs compare written times."""
    assert timestamps.parse_time(text, now=NOW) == timestamps.parse_ns(moment)


def test_a_year_0_time_an_offset_carries_into_year_1_is_that_moment() -> None:
    """Year 0 is RFC 3339's (Go's parser, docker's, takes it), and an offset can carry its
    last hours into year 1: a moment in range, not the beginning. (It was a 400, `year 0 is
    out of range`: Python's datetime has no year 0.)"""
    since = timestamps.parse_time("0000-12-31T23:30:00-01:00", now=NOW)
    assert since == timestamps.parse_ns("0001-01-01T00:30:00Z")


def test_a_timestamp_is_itself() -> None:
    stamp = "2026-11-28T14:59:00.5+00:00"
    assert timestamps.parse_time(stamp, now=NOW) == timestamps.parse_ns(stamp)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("yesterday", "'yesterday' is not an RFC 3339 timestamp"),
        ("1.5h", "nor a duration back from now such as 90s"),
        ("10", "is not an RFC 3339"),
        ("-10m", "is not an RFC 3339"),
        ("1" * 13 + "s", "is not an RFC 3339"),  # no more than 12 digits: no huge numbers
        ("2026-13-01T00:00:00Z", "is not a valid date and time"),
        ("2026-01-01T00:00:00+99:99", "its UTC offset +99:99 is not one"),  # was datetime's repr
        ("2026-01-01T00:00:00+00:60", "its UTC offset +00:60 is not one"),  # was read as +01:00
        ("2026-01-01T00:00:00-24:00", "its UTC offset -24:00 is not one"),
        ("x" * 5000, "..."),  # a long text is cut short in the message
        # a unit given twice was summed (2d): one of them is a slip, which cannot be told
        ("1d1d", "'1d1d' is a duration with d twice: give each of d, h, m and s at most once"),
        ("1h30m1h", "'1h30m1h' is a duration with h twice"),
        ("5s1m0s", "'5s1m0s' is a duration with s twice"),
        ("24h" + "502930538d913650346934d" * 3, "is a duration with d twice"),  # the fuzzer's
    ],
)
def test_what_is_no_moment(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as refused:
        timestamps.parse_time(text, now=NOW)
    assert len(str(refused.value)) < 200


# --- against a live daemon ----------------------------------------------------------------------


def sample_url(path: str) -> str:
    """A route's path with plausible values in its placeholders."""
    return path.replace("{id}", "box").replace("{name}", "cp1").replace("{pid}", "1")


#: What a WebSocket client sends to open one (a plain GET of a WebSocket route is refused as such).
UPGRADE = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


@pytest.mark.parametrize(
    ("method", "path", "websocket"),
    [(e.method, e.path, e.websocket) for e in routes.api.endpoints],
    ids=lambda value: str(value),
)
async def test_an_unknown_query_parameter_is_named_on_every_route(
    client: httpx.AsyncClient, method: str, path: str, websocket: bool
) -> None:
    body = b'{"bundlePath": "/x"}' if method in ("POST", "PUT", "PATCH") else None
    headers = UPGRADE if websocket else None
    response = await client.request(
        method, sample_url(path) + "?bogus=1", content=body, headers=headers
    )
    assert response.status_code == 400, response.text
    assert response.json() == {"error": "unknown query parameter 'bogus'"}


async def test_the_misspelt_tail_of_issue_14(client: httpx.AsyncClient, bundle: Path) -> None:
    await start_container(client, "talk", bundle)
    response = await client.get("/containers/talk/logs?tial=1")
    assert response.status_code == 400
    assert response.json()["error"] == "unknown query parameter 'tial'"
    response = await client.delete("/containers/talk?timout=1")
    assert response.json()["error"] == "unknown query parameter 'timout'"
    assert (await client.get("/containers/talk")).json()["state"]["status"] == "running"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/events?since=1h&since=2h", "query parameter since is given 2 times: give it once"),
        ("/state?a=1&b=2&c=3", "unknown query parameters 'a', 'b', 'c'"),
        ("/containers/box?id=other", "unknown query parameter 'id'"),  # a path parameter
        ("/events?" + "&".join(f"k{n}=1" for n in range(500)), "and 495 more"),
        ("/events?type=exit,nope", "query parameter type: unknown event type 'nope'"),
        ("/events?type=", "unknown event type ''"),
        ("/events?since=soon", "query parameter since: 'soon' is not an RFC 3339 timestamp"),
        ("/events?id=../x", "invalid container id '../x'"),
        ("/containers/box/logs?tail=-x", "query parameter tail must be a whole number or all"),
        ("/containers/box/logs?tail=" + "9" * 30, "must be a whole number of at most 20 digits"),
        # one digit of another script was said to be more than 20 digits
        ("/containers/box/logs?tail=%D9%A1", "tail must be a whole number or all, not '\u0661'"),
        # it said "true or false" and took 1, 0, yes and no too
        (
            "/containers/box/logs?follow=maybe",
            "query parameter follow must be one of true, 1, yes, false, 0, no (any case; empty:"
            " true), not 'maybe'",
        ),
        ("/containers/box/logs?pid=0", "query parameter pid must be between 1 and 4194304"),
        ("/containers/box/logs?since=x", "query parameter since: 'x' is not an RFC 3339"),
        ("/events?since=1d1d", "query parameter since: '1d1d' is a duration with d twice"),
        ("/containers/box/logs?until=1h1h", "query parameter until: '1h1h' is a duration with"),
        ("/containers/box/logs?since=1m1m", "query parameter since: '1m1m' is a duration with"),
        # a final newline and other scripts' digits (U+0661, an Arabic-Indic 1) were taken
        ("/containers/box/logs?since=1h%0A", "query parameter since: '1h\\n' is not an RFC"),
        ("/events?since=2026-12-01T10:00:00Z%0A", "query parameter since: '2026-12-01T10:00"),
        ("/events?since=2026-12-01T10:00:00.%D9%A1Z", "query parameter since: '2026-12-01T"),
        ("/containers/box/logs?until=2026-13-01T00:00:00Z", "query parameter until: '2026-13"),
        ("/containers/box/checkpoint?bundlePath=rel", "query parameter bundlePath must be an"),
        ("/containers/box/checkpoint?bundlePath=/" + "a" * 300, "a file name is at most 255"),
        ("/containers/box?timeout=" + "x" * 5000, "query parameter timeout must be a number"),
        # float() took these (timeout=1_0 was 10 s, an Arabic-Indic one 1 s), where tail's
        # whole numbers and the document's "number" take ASCII digits only
        ("/containers/box?timeout=1_0", "query parameter timeout must be a number, not '1_0'"),
        ("/containers/box?timeout=%D9%A1", "query parameter timeout must be a number, not"),
        ("/containers/box?timeout=%EF%BC%91", "query parameter timeout must be a number, not"),
        ("/containers/box?timeout=%201", "query parameter timeout must be a number, not ' 1'"),
        ("/containers/box?timeout=nan", "query parameter timeout must be a number, not 'nan'"),
    ],
)
async def test_bad_query_parameters_are_400_naming_them(
    client: httpx.AsyncClient, url: str, message: str
) -> None:
    method = "DELETE" if url.startswith("/containers/box?") else "GET"
    response = await client.request(method, url)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert message in error
    assert len(error) < 400, "a message quotes the client's text cut short"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "/containers/box/logs?tail=+1",
            "query parameter tail must be a whole number or all, not ' 1': a + in a query"
            " string is a space; write a + as %2B, as tail=%2B1",
        ),
        (  # the fast path's (a DELETE) too
            "/containers/box?timeout=+1.5",
            "query parameter timeout must be a number, not ' 1.5': a + in a query string is a"
            " space; write a + as %2B, as timeout=%2B1.5",
        ),
        # a %20 was sent as a space: no word of a +
        (
            "/containers/box/logs?tail=%201",
            "query parameter tail must be a whole number or all, not ' 1'",
        ),
        ("/containers/box/logs?tail=%201&follow=+", "query parameter tail must be a whole"),
    ],
)
async def test_a_value_refused_for_a_plus_read_as_a_space_says_so(
    client: httpx.AsyncClient, url: str, message: str
) -> None:
    """``tail=+1`` arrives as ``' 1'`` (a query string's ``+`` is a space; ``%2B1`` is +1, as
    the sign a whole number may have): the 400 quoted the space alone, which looked like the
    daemon's slip. It says why now, where the value had a ``+`` as sent."""
    method = "DELETE" if url.startswith("/containers/box?") else "GET"
    response = await client.request(method, url)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    if "%20" in url:
        assert response.json()["error"].startswith(message)
        assert "%2B" not in response.json()["error"]
    else:
        assert response.json() == {"error": message}


async def test_events_of_some_types_replayed_and_live(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    since = now()
    await start_container(client, "a", make_bundle(("sh", "-c", "exit 3")))
    await start_container(client, "b", make_bundle())
    replayed = await collect_events(client, {"since": since, "type": "exit,delete"}, 1)
    assert [(e["type"], e["id"], e["status"]) for e in replayed] == [("exit", "a", 3)]

    seen: list[Any] = []
    async with client.stream("GET", "/events", params={"type": "delete,exit"}) as response:
        assert response.status_code == 200
        lines = response.aiter_lines()
        await client.delete("/containers/b", params={"timeout": "0"})  # exit, then delete
        async for line in lines:
            seen.append(json.loads(line))
            if len(seen) == 2:
                break
    assert [(e["type"], e["id"]) for e in seen] == [("exit", "b"), ("delete", "b")]


async def test_events_of_a_type_given_several_times_are_of_any_of_them(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """``?type=exit&type=delete``, as docker's CLI sends a repeated ``--filter event=``: the
    events of any of the types, each time's and each comma's, replayed and live. It was a 400
    (``query parameter type is given 2 times``)."""
    since = now()
    await start_container(client, "a", make_bundle(("sh", "-c", "exit 3")))
    await start_container(client, "b", make_bundle())
    replayed = await collect_events(
        client, [("since", since), ("type", "oom"), ("type", "delete,exit")], 1
    )
    assert [(e["type"], e["id"], e["status"]) for e in replayed] == [("exit", "a", 3)]

    seen: list[Any] = []
    with trio.fail_after(10):
        params = httpx.QueryParams([("type", "pause"), ("type", "delete")])
        async with client.stream("GET", "/events", params=params) as response:
            assert response.status_code == 200, await response.aread()
            lines = response.aiter_lines()
            await client.patch("/containers/b", json={"status": "paused"})
            await client.delete("/containers/b", params={"timeout": "0"})  # exit, then delete
            async for line in lines:
                seen.append(json.loads(line))
                if len(seen) == 2:
                    break
    # Not b's exit, of neither type.
    assert [(e["type"], e["id"]) for e in seen] == [("pause", "b"), ("delete", "b")]


async def test_events_since_a_duration(client: httpx.AsyncClient, bundle: Path) -> None:
    await start_container(client, "recent", bundle)
    replayed = await collect_events(client, {"since": "1h", "id": "recent"}, 1)
    assert [(e["type"], e["id"]) for e in replayed] == [("start-container", "recent")]
    # 0s is now: nothing before it is replayed; the next event is live.
    async with client.stream("GET", "/events", params={"since": "0s", "id": "recent"}) as stream:
        assert stream.status_code == 200
        await client.patch("/containers/recent", json={"status": "paused"})
        async for line in stream.aiter_lines():
            assert json.loads(line)["type"] == "pause"
            break


async def test_the_parameters_clients_send_today_still_work(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    client = daemon.client
    since = now()
    bundle = make_bundle(("sh", "-c", "echo one; echo two; sleep 100000"))
    await start_container(client, "old", bundle)
    with trio.fail_after(10):
        async with client.stream(
            "GET", "/containers/old/logs", params={"follow": "true", "tail": "5"}
        ) as stream:
            async for line in stream.aiter_lines():
                if json.loads(line)["data"] == "two\n":
                    break
    logs = await client.get("/containers/old/logs", params={"tail": "1", "follow": "false"})
    assert [json.loads(line)["data"] for line in logs.text.splitlines()] == ["two\n"]
    events = await collect_events(client, {"since": since, "id": "old"}, 1)
    assert events[0]["type"] == "start-container"
    listed = await client.get("/containers/old/checkpoint", params={"bundlePath": str(bundle)})
    assert listed.status_code == 200 and listed.json() == []
    gone = await client.delete(
        "/containers/old/checkpoint/none", params={"bundlePath": str(bundle)}
    )
    assert gone.status_code == 404, gone.text
    deleted = await client.delete("/containers/old", params={"timeout": "0"})
    assert deleted.status_code == 200, deleted.text


async def test_logs_of_one_process_and_of_a_time_window(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    created = await start_container(
        client, "win", make_bundle(("sh", "-c", "echo one; sleep 100000"))
    )
    init = created["processes"][0]["pid"]
    await wait_output(client, "win", "one")
    between = now()
    exec_ = await client.put("/containers/win/processes", json={"args": ["echo", "two"]})
    assert exec_.status_code == 201, exec_.text
    await wait_output(client, "win", "two")

    async def data(**params: str) -> list[str]:
        response = await client.get("/containers/win/logs", params=params)
        assert response.status_code == 200, response.text
        return [json.loads(line)["data"] for line in response.text.splitlines()]

    assert await data() == ["one\n", "two\n"]
    assert await data(pid=str(exec_.json()["pid"])) == ["two\n"]
    assert await data(pid=str(init)) == ["one\n"]
    assert await data(until=between) == ["one\n"]
    assert await data(since=between) == ["two\n"]
    assert await data(since="1h") == ["one\n", "two\n"]
    assert await data(since="1h", until="1h") == []


async def test_a_time_with_more_fraction_digits_than_nanoseconds_is_taken(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """RFC 3339 puts no bound on a fraction's digits, nor does the document's date-time: a
    picosecond time was a 400 saying it was no RFC 3339 timestamp. Past the ninth, dropped."""
    await start_container(client, "fine", make_bundle(("sh", "-c", "echo one; sleep 100000")))
    await wait_output(client, "fine", "one")
    after = now()  # 2026-...T...:..:...NNNNNNNNN+00:00
    finer = after.replace("+00:00", "999Z")
    for params in ({"since": finer}, {"until": finer}):
        response = await client.get("/containers/fine/logs", params=params)
        assert response.status_code == 200, response.text
        expected = [] if "since" in params else ["one\n"]
        assert [json.loads(line)["data"] for line in response.text.splitlines()] == expected
    async with client.stream("GET", "/events", params={"since": finer}) as stream:
        assert stream.status_code == 200  # a stream: its headers are enough
    assert timestamps.parse_ns(finer) == timestamps.parse_ns(after)
