"""The event stream: live, replayed, filtered, bounded, and carried across a restart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.lowlevel
import trio.testing

from containerd_trio import timestamps
from containerd_trio.event_types import EVENT_TYPES
from containerd_trio.events import BATCH, EventBus
from containerd_trio.timestamps import parse_ns

from .helpers import (
    FOREVER,
    IGNORES_TERM,
    BundleFactory,
    RunningDaemon,
    collect_events,
    now,
    start_container,
    wait_exit,
)


async def test_live_events_of_a_container_that_exits_with_4(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    received: list[dict[str, Any]] = []
    subscribed = trio.Event()

    async def listen() -> None:
        async with client.stream("GET", "/events", params={"id": "four"}) as response:
            subscribed.set()  # the daemon subscribes before it sends the headers
            async for line in response.aiter_lines():
                received.append(json.loads(line))
                if len(received) == 2:
                    return

    async with trio.open_nursery() as nursery:
        nursery.start_soon(listen)
        await subscribed.wait()
        created = await start_container(
            client, "four", make_bundle(["sh", "-c", "sleep 0.2; exit 4"])
        )
    pid = created["processes"][0]["pid"]
    assert [(e["type"], e["id"], e["pid"]) for e in received] == [
        ("start-container", "four", pid),
        ("exit", "four", pid),
    ]
    assert received[1]["status"] == 4
    for event in received:
        parse_ns(event["timestamp"])
        assert event["type"] in EVENT_TYPES


async def test_replay_then_live_without_loss_or_doubles(
    client: httpx.AsyncClient, bundle: Path
) -> None:
    """Events published while a subscriber joins are seen exactly once, in order."""
    since = now()
    await start_container(client, "busy", bundle)
    total = 12
    halfway = trio.Event()

    async def exec_many() -> None:
        for n in range(total):
            response = await client.put("/containers/busy/processes", json={"args": ["true"]})
            assert response.status_code == 201
            if n == total // 2:
                halfway.set()

    streamed: list[dict[str, Any]] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(exec_many)
        await halfway.wait()  # join part-way through the burst
        # start-container, then a start-process and an exit per exec
        streamed = await collect_events(client, {"since": since, "id": "busy"}, 1 + 2 * total)
    replayed = await collect_events(client, {"since": since, "id": "busy"}, 1 + 2 * total)
    assert streamed == replayed
    keys = [(e["type"], e.get("pid"), e["timestamp"]) for e in streamed]
    assert len(set(keys)) == len(keys)
    stamps = [parse_ns(e["timestamp"]) for e in streamed]
    assert stamps == sorted(stamps)
    starts = [e["pid"] for e in streamed if e["type"] == "start-process"]
    assert len(starts) == total
    for pid in starts:  # each process's start comes before its exit
        kinds = [e["type"] for e in streamed if e.get("pid") == pid]
        # A pid may be given again within the burst (the suite's other workers force pids
        # through ns_last_pid): each of its processes then starts and exits in turn.
        assert kinds == ["start-process", "exit"] * (len(kinds) // 2), kinds


async def test_id_filter(client: httpx.AsyncClient, bundle: Path) -> None:
    since = now()
    await start_container(client, "a", bundle)
    await start_container(client, "b", bundle)
    await client.delete("/containers/a", params={"timeout": "0"})
    events = await collect_events(client, {"since": since, "id": "b"}, 1)
    assert [(e["type"], e["id"]) for e in events] == [("start-container", "b")]
    events = await collect_events(client, {"since": since}, 4)
    assert [(e["type"], e["id"]) for e in events] == [
        ("start-container", "a"),
        ("start-container", "b"),
        ("exit", "a"),
        ("delete", "a"),
    ]


async def test_an_id_given_several_times_keeps_the_events_of_any_of_them(
    client: httpx.AsyncClient, bundle: Path
) -> None:
    """``?id=a&id=c``, as docker's CLI sends a repeated ``--filter container=``: the events of
    either container, replayed and live, not the others'. It was a 400 (``query parameter id
    is given 2 times``)."""
    since = now()
    for name in ("a", "b", "c"):
        await start_container(client, name, bundle)
    params = [("since", since), ("id", "a"), ("id", "c")]
    events = await collect_events(client, params, 2)
    assert [(e["type"], e["id"]) for e in events] == [
        ("start-container", "a"),
        ("start-container", "c"),
    ]
    seen: list[tuple[str, str]] = []
    with trio.fail_after(10):
        live = httpx.QueryParams([("id", "c"), ("id", "a"), ("type", "delete")])
        async with client.stream("GET", "/events", params=live) as response:
            assert response.status_code == 200, await response.aread()
            for name in ("b", "c", "a"):
                await client.delete(f"/containers/{name}", params={"timeout": "0"})
            async for line in response.aiter_lines():
                event = json.loads(line)
                seen.append((event["type"], event["id"]))
                if len(seen) == 2:
                    break
    assert seen == [("delete", "c"), ("delete", "a")]  # not b's


async def test_events_carry_their_containers_labels_and_a_label_filter_judges_each_by_them(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """docker's events carry their container's labels, and its label filter matches those:
    so here. ``?label=KEY`` (any value, an empty one too) or ``KEY=VALUE``, given again for
    more, all to match. A replay judges each event by the labels its container had: a
    stopped container, and another started under its id with other labels (which publishes
    the stopped one's delete), do not mix (until 2026-12-04 the events carried none, and
    ctr-trio judged a replay by the labels of the container under the id now). A container
    without labels has none in its events. (tests/test_cli.py: a DELETE, then a start.)"""
    since = now()
    first = {"team": "infra", "tier": ""}
    for name, labels, code in (("web", first, 1), ("bare", {}, 2)):
        bundle = make_bundle(["sh", "-c", f"exit {code}"])
        created = await start_container(client, name, bundle, labels=labels)
        await wait_exit(client, name, created["processes"][0]["pid"], since)
    created = await start_container(  # over the stopped web: its delete is this start's
        client, "web", make_bundle(["sh", "-c", "exit 3"]), labels={"team": "ops"}
    )
    await wait_exit(client, "web", created["processes"][0]["pid"], since)
    # The last events of each filtered replay below: nothing unexpected comes before them.
    await start_container(client, "end-infra", make_bundle(FOREVER), labels=first)
    await start_container(client, "end-ops", make_bundle(FOREVER), labels={"team": "ops"})

    with trio.fail_after(30):
        every = await collect_events(client, {"since": since}, 9)
        assert [(e["type"], e["id"], e.get("labels")) for e in every] == [
            ("start-container", "web", first),
            ("exit", "web", first),
            ("start-container", "bare", None),
            ("exit", "bare", None),
            ("delete", "web", first),
            ("start-container", "web", {"team": "ops"}),
            ("exit", "web", {"team": "ops"}),
            ("start-container", "end-infra", first),
            ("start-container", "end-ops", {"team": "ops"}),
        ]
        first_web = [("start-container", "web"), ("exit", "web"), ("delete", "web")]
        for filters in (
            [("label", "team=infra")],
            [("label", "tier")],  # any value: "" too
            [("label", "tier=")],  # the value "", as given
            [("label", "team=infra"), ("label", "tier")],  # both
        ):
            events = await collect_events(client, [("since", since), *filters], 4)
            got = [(e["type"], e["id"]) for e in events]
            assert got == [*first_web, ("start-container", "end-infra")], filters
        events = await collect_events(client, {"since": since, "label": "team=ops"}, 3)
        assert [(e["type"], e["id"]) for e in events] == [
            ("start-container", "web"), ("exit", "web"), ("start-container", "end-ops")
        ]  # fmt: skip

        # Live, too: an event of a container with the labels comes; one without does not.
        async with client.stream(
            "GET", "/events", params=[("label", "team=ops"), ("label", "tier")]
        ) as stream:
            await start_container(client, "nope", make_bundle(FOREVER), labels={"team": "ops"})
            await start_container(
                client, "yes", make_bundle(FOREVER), labels={"team": "ops", "tier": "x"}
            )
            async for line in stream.aiter_lines():
                assert json.loads(line)["id"] == "yes"
                break


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "yesterday"}, "query parameter since"),
        ({"since": "2026-13-01T00:00:00Z"}, "not a valid date"),
        ({"id": "../x"}, "invalid container id"),
        ({"label": ""}, "query parameter label must be KEY or KEY=VALUE, KEY not empty, not ''"),
        ({"label": "=x"}, "query parameter label must be KEY or KEY=VALUE, KEY not empty"),
        # An id given again is one more (any of them), each checked.
        ({"id": ["a", "../x"]}, "query parameter id: invalid container id '../x'"),
        ({"since": ["1h", "2h"]}, "query parameter since is given 2 times: give it once"),
        # Each time of a type given again is checked as a list of its own.
        ({"type": ["exit", "nope"]}, "query parameter type: unknown event type 'nope'"),
        # An end before the start, as docker's daemon refuses it (before, an empty stream).
        (
            {"since": "1s", "until": "1h"},
            "query parameters since and until: since (1s) is after until (1h)",
        ),
        (
            {"since": "2026-12-05T10:00:00Z", "until": "2026-12-05T09:59:59.999Z"},
            "since (2026-12-05T10:00:00Z) is after until (2026-12-05T09:59:59.999Z)",
        ),
    ],
)
async def test_bad_event_query_is_400(
    client: httpx.AsyncClient, params: dict[str, Any], message: str
) -> None:
    response = await client.get("/events", params=params)
    assert response.status_code == 400
    assert message in response.json()["error"]


@pytest.mark.deadline(60)
async def test_replay_across_a_daemon_restart(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    first: RunningDaemon = await start_daemon(state)
    since = now()
    created = await start_container(first.client, "old", make_bundle(["sh", "-c", "exit 4"]))
    await wait_exit(first.client, "old", created["processes"][0]["pid"], since)
    await first.stop()

    second: RunningDaemon = await start_daemon(state)
    await start_container(second.client, "new", make_bundle(FOREVER))
    events = await collect_events(second.client, {"since": since}, 4)
    assert [(e["type"], e["id"]) for e in events] == [
        ("start-container", "old"),
        ("exit", "old"),
        ("delete", "old"),  # the first daemon's shutdown removed it
        ("start-container", "new"),
    ]
    assert events[1]["status"] == 4


@pytest.mark.deadline(60)
async def test_a_stop_begins_with_daemon_stopping_sent_live_only(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A daemon's stop says so first (docs/events.md): daemon-stopping, its id empty, before
    its containers' exits and deletes, then the streams end whole. An id filter leaves it
    out, a type filter that names it keeps it; it is not kept, so the next daemon's replay
    does not have it (a follower would take it for that daemon's stop)."""
    state = tmp_path / "state"
    first: RunningDaemon = await start_daemon(state)
    since = now()
    await start_container(first.client, "box", make_bundle(FOREVER))
    streams = {
        "all": {},
        "box": {"id": "box"},
        "named": {"type": "daemon-stopping,delete"},
    }
    received: dict[str, list[dict[str, Any]]] = {name: [] for name in streams}
    subscribed = trio.Event()
    count = 0

    async def follow(name: str) -> None:
        nonlocal count
        async with first.client.stream("GET", "/events", params=streams[name]) as response:
            count += 1
            if count == len(streams):
                subscribed.set()  # the daemon subscribes before it sends the headers
            async for line in response.aiter_lines():  # to the stream's end, whole
                received[name].append(json.loads(line))

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            for name in streams:
                nursery.start_soon(follow, name)
            await subscribed.wait()
            await first.stop()
    kinds = {name: [(e["type"], e["id"]) for e in events] for name, events in received.items()}
    assert kinds == {
        "all": [("daemon-stopping", ""), ("exit", "box"), ("delete", "box")],
        "box": [("exit", "box"), ("delete", "box")],
        "named": [("daemon-stopping", ""), ("delete", "box")],
    }
    assert set(received["all"][0]) == {"type", "id", "timestamp"}

    second: RunningDaemon = await start_daemon(state)
    replayed = (await second.client.get("/events", params={"since": since, "until": "0s"})).text
    assert [json.loads(line)["type"] for line in replayed.splitlines()] == [
        "start-container",
        "exit",
        "delete",
    ]


@pytest.mark.deadline(60)
async def test_a_stream_opened_during_a_stop_learns_of_it_first(
    start_daemon: Any, make_bundle: BundleFactory
) -> None:
    """A follower that connects while the daemon stops (its container in its grace; a
    stopping daemon serves the event stream) gets ``daemon-stopping`` first, then the stop's
    exit and delete, then its stream's end; with ``since`` from before, in its place in the
    replay. Until 2026-12-06 it came only to the streams open as the stop began."""
    daemon: RunningDaemon = await start_daemon(shutdown_timeout=2.0)
    since = now()
    await start_container(daemon.client, "deaf", make_bundle(IGNORES_TERM))
    received: dict[str, list[tuple[str, str]]] = {"early": [], "late": [], "replay": []}
    subscribed, stopping = trio.Event(), trio.Event()

    async def follow(name: str, params: dict[str, str]) -> None:
        async with daemon.client.stream("GET", "/events", params=params) as response:
            assert response.status_code == 200
            subscribed.set()  # the daemon subscribes before it sends the headers
            async for line in response.aiter_lines():
                event = json.loads(line)
                received[name].append((event["type"], event["id"]))
                if event["type"] == "daemon-stopping" and name == "early":
                    stopping.set()

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(follow, "early", {})
            await subscribed.wait()
            nursery.start_soon(daemon.stop)
            await stopping.wait()  # the stop began; deaf is in its grace (SIGTERM ignored)
            nursery.start_soon(follow, "late", {})
            kinds = "start-container,daemon-stopping,delete"
            nursery.start_soon(follow, "replay", {"since": since, "type": kinds})
    assert received == {
        "early": [("daemon-stopping", ""), ("exit", "deaf"), ("delete", "deaf")],
        "late": [("daemon-stopping", ""), ("exit", "deaf"), ("delete", "deaf")],
        "replay": [("start-container", "deaf"), ("daemon-stopping", ""), ("delete", "deaf")],
    }


# --- the bus itself -------------------------------------------------------------------------


def test_a_live_only_event_stands_for_the_streams_opened_after_it() -> None:
    """``daemon-stopping`` (published live only) comes to a stream opened after it: first
    without a replay, in its place in one; not where a filter leaves it out, nor from a
    ``since`` after it; and it is never kept."""
    bus = EventBus(None)
    bus.publish("start-container", "box", pid=7)
    stopping = bus.publish("daemon-stopping", "", kept=False)
    bus.publish("exit", "box", pid=7, status=0)

    def replayed(**selection: Any) -> list[str]:
        return [event.type for event in bus.subscribe(**selection).replay]

    assert replayed() == ["daemon-stopping"]
    assert replayed(since_ns=0) == ["start-container", "daemon-stopping", "exit"]
    assert replayed(since_ns=0, container_ids=frozenset({"box"})) == ["start-container", "exit"]
    assert replayed(since_ns=0, types=frozenset({"exit"})) == ["exit"]
    assert replayed(since_ns=stopping.timestamp_ns + 1) == ["exit"]
    assert [event.type for event in bus.kept()] == ["start-container", "exit"]


async def test_a_slow_subscriber_is_cut_off() -> None:
    bus = EventBus(None, queue=2)
    slow = bus.subscribe()
    fast = bus.subscribe()
    received: list[str] = []
    async with trio.open_nursery() as nursery:

        async def read_fast() -> None:
            async for event in fast:
                received.append(event.id)
                if len(received) == 5:
                    return

        nursery.start_soon(read_fast)
        for n in range(5):
            bus.publish("start-container", f"c{n}")
            await trio.lowlevel.checkpoint()  # the fast reader keeps up; the slow one never reads
    got = [event.id async for event in slow]  # what fitted in its queue, then the end
    assert got == ["c0", "c1"]
    assert received == [f"c{n}" for n in range(5)]
    assert bus.subscriber_count == 1  # the fast one is still subscribed
    fast.close()
    assert bus.subscriber_count == 0


async def test_a_stream_takes_the_replay_and_what_waits_in_batches_in_order() -> None:
    """A stream sends its events in lists of at most BATCH: the replay in slices, then each
    live event with those queued behind it; every event once, in order, across the seam."""
    bus = EventBus(None, queue=1000)
    for n in range(600):
        bus.publish("start-container", f"r{n}")
    subscription = bus.subscribe(since_ns=0)
    for n in range(300):  # published before the stream reads: they wait in its queue
        bus.publish("exit", f"l{n}", status=0)
    sizes: list[int] = []
    ids: list[str] = []
    with trio.fail_after(10):
        async for batch in subscription.batches():
            sizes.append(len(batch))
            ids += [event.id for event in batch]
            if len(ids) == 900:
                bus.publish("exit", "last", status=0)  # live, alone
            if len(ids) == 901:
                break
    assert sizes == [BATCH, BATCH, 600 - 2 * BATCH, BATCH, 300 - BATCH, 1]
    assert ids == [f"r{n}" for n in range(600)] + [f"l{n}" for n in range(300)] + ["last"]


async def test_a_replay_of_thousands_comes_whole_and_in_order_then_live(
    daemon: RunningDaemon,
) -> None:
    """Over HTTP: 3000 kept events (many batches) replayed, each line one whole event, in
    order, none twice, then a live one."""
    bus = daemon.daemon.events
    assert bus is not None
    since = now()
    for n in range(3000):
        bus.publish("start-container", f"c{n}", pid=n + 1)
    got: list[dict[str, Any]] = []
    with trio.fail_after(30):
        params = {"since": since, "type": "start-container"}
        async with daemon.client.stream("GET", "/events", params=params) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                got.append(json.loads(line))
                if len(got) == 3000:
                    bus.publish("start-container", "live", pid=1)
                if len(got) == 3001:
                    break
    assert [event["id"] for event in got] == [f"c{n}" for n in range(3000)] + ["live"]
    assert [event["pid"] for event in got[:3000]] == list(range(1, 3001))
    stamps = [parse_ns(event["timestamp"]) for event in got]
    assert stamps == sorted(set(stamps))


async def read_to_the_end(
    client: httpx.AsyncClient, params: dict[str, str]
) -> list[dict[str, Any]]:
    """Every event of a stream the daemon ends (``until``): the test's bound is its end."""
    async with client.stream("GET", "/events", params=params) as response:
        assert response.status_code == 200, await response.aread()
        return [json.loads(line) async for line in response.aiter_lines()]


async def test_until_ends_the_stream_there_as_docker_s(daemon: RunningDaemon) -> None:
    """docker's ``until``: the events stamped up to it, its very time's too, then the end of
    the stream; a moment past, right after the replay (``0s``: the replay alone); one to come,
    when the clock reaches it. Before, it was an unknown parameter (400), and a client had to
    guess the replay's end from a quiet spell (``ctr-trio events --until``: two seconds)."""
    bus, client = daemon.daemon.events, daemon.client
    assert bus is not None
    since = now()
    for n in range(5):
        bus.publish("start-container", f"u{n}", pid=n + 1)
    with trio.fail_after(10):
        every = await read_to_the_end(client, {"since": since, "until": "0s"})
        assert [event["id"] for event in every] == [f"u{n}" for n in range(5)]
        middle = every[2]["timestamp"]
        upto = await read_to_the_end(client, {"since": since, "until": middle})
        assert [event["id"] for event in upto] == ["u0", "u1", "u2"]  # its own time's too
        assert await read_to_the_end(client, {"since": middle, "until": middle}) == [every[2]]
        # One duration for both is one moment (since is read first), not an end before it.
        assert await read_to_the_end(client, {"since": "10m", "until": "10m"}) == []
        # Past, without since: nothing (the live ones come after it), and the end at once.
        assert await read_to_the_end(client, {"until": "1m", "type": "start-container"}) == []

    # One to come: the live events until then, then the end with none coming.
    until = trio.current_time() + 1.0
    moment = timestamps.format_ns(timestamps.now_ns() + 1_000_000_000)
    got: list[str] = []
    with trio.fail_after(10):
        async with client.stream("GET", "/events", params={"until": moment}) as response:
            bus.publish("start-container", "live", pid=1)
            async for line in response.aiter_lines():
                got.append(json.loads(line)["id"])
        ended = trio.current_time()
    assert got == ["live"]
    assert ended >= until - 0.05  # not before its moment (the clocks' reads apart)
    # An event stamped past it is not sent, and ends the stream at once.
    moment = timestamps.format_ns(timestamps.now_ns() + 60_000_000_000)
    with trio.fail_after(10):
        async with client.stream("GET", "/events", params={"until": moment}) as response:
            bus.publish("start-container", "before", pid=1)
            bus.publish("start-container", "after", pid=1, at_ns=timestamps.now_ns() + 120 * 10**9)
            got = [json.loads(line)["id"] async for line in response.aiter_lines()]
    assert got == ["before"]


async def test_a_subscription_s_batches_end_at_until() -> None:
    """The bus's side of ``until``: the replay cut there; no wait for live events when none
    can be stamped so early; else the live ones up to it, cut at the first past it."""
    bus = EventBus(None)
    for n in range(4):
        bus.publish("start-container", f"r{n}")
    stamps = [event.timestamp_ns for event in bus.subscribe(since_ns=0).replay]
    with trio.fail_after(5), bus.subscribe(since_ns=0) as subscription:
        got = [e.id async for batch in subscription.batches(until_ns=stamps[1]) for e in batch]
    assert got == ["r0", "r1"]
    with trio.fail_after(5), bus.subscribe(since_ns=0) as subscription:
        far = stamps[-1] + 3600 * 10**9  # an hour to come: only the event past it ends it
        bus.publish("exit", "l0", status=0)
        bus.publish("exit", "l1", status=0, at_ns=far + 1)
        bus.publish("exit", "l2", status=0)
        got = [e.id async for batch in subscription.batches(until_ns=far) for e in batch]
    assert got == ["r0", "r1", "r2", "r3", "l0"]


def test_the_persisted_log_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "events.log"
    bus = EventBus(path, capacity=5)
    for n in range(23):
        bus.publish("start-container", f"c{n}")
    bus.close()
    assert len(path.read_bytes().splitlines()) <= 2 * 5
    reloaded = EventBus(path, capacity=5)
    replay = reloaded.subscribe(since_ns=0).replay
    assert [e.id for e in replay] == [f"c{n}" for n in range(18, 23)]


def test_labels_are_kept_with_the_persisted_log(tmp_path: Path) -> None:
    """A replay after a restart judges the kept events by the labels they carried."""
    path = tmp_path / "events.log"
    bus = EventBus(path)
    bus.publish("start-container", "web", pid=7, labels={"team": "infra"})
    bus.publish("exit", "web", pid=7, status=0, labels={"team": "ops"})
    bus.publish("start-container", "bare", pid=8)
    bus.close()
    reloaded = EventBus(path)
    [kept] = reloaded.subscribe(since_ns=0, labels=[("team", "infra")]).replay
    assert (kept.type, kept.labels, kept.detail) == ("start-container", {"team": "infra"}, None)
    replay = reloaded.subscribe(since_ns=0).replay
    assert [e.to_json().get("labels") for e in replay] == [{"team": "infra"}, {"team": "ops"}, None]


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "events.log"
    bus = EventBus(path)
    bus.publish("start-container", "whole")
    bus.close()
    with open(path, "ab") as log:
        log.write(b'{"type": "exit", "id": "tor')  # a crash in mid-write
    replay = EventBus(path).subscribe(since_ns=0).replay
    assert [e.id for e in replay] == ["whole"]


async def test_since_with_an_unencoded_plus(client: httpx.AsyncClient, bundle: Path) -> None:
    """``?since=...+00:00`` typed into a URL arrives with a space for the plus."""
    since = now()
    await start_container(client, "plus", bundle)
    raw = since.replace("+", " ")
    events = await collect_events(client, {"since": raw, "id": "plus"}, 1)
    assert events[0]["type"] == "start-container"


async def test_a_client_gone_before_its_stream_began_leaves_no_subscriber(
    daemon: RunningDaemon,
) -> None:
    """A request for /events whose answer never starts (its declared body never comes, and
    the client leaves): nothing stays subscribed, for ever queueing events."""
    url = httpx.URL(daemon.url)
    assert daemon.daemon.supervisor is not None
    bus = daemon.daemon.supervisor.events
    for _ in range(10):
        stream = await trio.open_tcp_stream(url.host, url.port or 80)
        await stream.send_all(
            b"GET /events HTTP/1.1\r\nHost: %s:%d\r\nContent-Length: 5\r\n\r\n"
            % (url.host.encode(), url.port or 80)
        )
        await trio.testing.wait_all_tasks_blocked(0.05)  # the request is in the app
        await stream.aclose()
    with trio.fail_after(10):
        while bus.subscriber_count:  # noqa: ASYNC110 (no event to wait on)
            await trio.sleep(0.05)
    # And a stream that does begin still replays what happened from its request on.
    async with daemon.client.stream("GET", "/events") as answer:
        bus.publish("start-container", "after-the-headers")
        async for line in answer.aiter_lines():
            assert json.loads(line)["id"] == "after-the-headers"
            break
    with trio.fail_after(10):
        while bus.subscriber_count:  # noqa: ASYNC110 (no event to wait on)
            await trio.sleep(0.05)


async def test_a_client_gone_with_a_request_pipelined_behind_its_stream_is_let_go(
    daemon: RunningDaemon,
) -> None:
    """A client that sends a byte more behind its /events request (a request pipelined behind
    the stream), then hangs up: Hypercorn reads nothing more from a connection whose next
    request waits behind an answer, but the daemon sees the hang-up all the same and ends the
    stream. Its subscription, task and socket stayed for good, as long as no event came."""
    url = httpx.URL(daemon.url)
    assert daemon.daemon.supervisor is not None
    bus = daemon.daemon.supervisor.events
    for _ in range(5):
        stream = await trio.open_tcp_stream(url.host, url.port or 80)
        await stream.send_all(b"GET /events?id=nobody HTTP/1.1\r\nHost: x\r\n\r\nG")
        received = b""
        with trio.fail_after(5):
            while b"\r\n\r\n" not in received:  # the stream's head: it is subscribed
                received += await stream.receive_some()
        await stream.aclose()
    assert bus.subscriber_count == 5
    with trio.fail_after(10):
        while bus.subscriber_count:  # noqa: ASYNC110 (no event to wait on)
            await trio.sleep(0.05)
