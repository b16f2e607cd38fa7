"""Input limits: what would cost the daemon (or crash its parser) is a 400 that says why.

A body nested 500,000 deep, an integer of thousands of digits, NaN, sixty thousand unknown
keys, a path longer than the kernel takes: each gets a clear 400 with a short message, no 500
and no traceback in the log, and the daemon goes on serving. The depth check itself is tested
against a plain recursive count on any JSON hypothesis makes.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from containerd_trio.api.wire import MAX_DEPTH, nests_deeper_than

from .helpers import start_container


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


#: Strings full of what could fool a scan: brackets, quotes, backslashes.
tricky_text = st.text(st.sampled_from('[]{}"\\,: aé\n'), max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky_text,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(tricky_text, children, max_size=3)
    ),
    max_leaves=40,
)


@settings(max_examples=500)
@given(value=json_values, limit=st.integers(min_value=0, max_value=8), ascii=st.booleans())
def test_the_depth_scan_agrees_with_the_parsed_value(value: Any, limit: int, ascii: bool) -> None:
    data = json.dumps(value, ensure_ascii=ascii).encode()
    assert nests_deeper_than(data, limit) == (depth(value) > limit)


@pytest.mark.parametrize(
    "data",
    [
        b"[" * 500_000,  # never closed
        b"[" * 500_000 + b"]" * 500_000,
        b'"' + b'\\"' * 400_000,  # an unterminated string of escaped quotes: no quadratic scan
        b"{[" * 200_000,
    ],
    ids=["open", "closed", "quotes", "mixed"],
)
def test_the_depth_scan_on_hostile_bodies(data: bytes) -> None:
    expected = not data.startswith(b'"')
    assert nests_deeper_than(data, MAX_DEPTH) is expected


def nested(levels: int, inner: bytes = b"1") -> bytes:
    return b'{"bundlePath": "/x", "labels": ' + b"[" * levels + inner + b"]" * levels + b"}"


@pytest.fixture
def no_errors_logged(caplog: pytest.LogCaptureFixture) -> Any:
    with caplog.at_level(logging.WARNING):
        yield
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not loud, [r.getMessage()[:200] for r in loud]
    assert not any(r.exc_info for r in caplog.records), "a traceback went to the log"


@pytest.mark.usefixtures("no_errors_logged")
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[" * 500_000 + b"]" * 500_000, f"nests arrays and objects deeper than {MAX_DEPTH}"),
        (b"[" * 1_000_000, "nests arrays and objects deeper than"),
        # The outer object is a level of its own: MAX_DEPTH levels in all are fine.
        (nested(MAX_DEPTH - 1), "labels: expected an object"),
        (nested(MAX_DEPTH), "deeper than"),
        (b'{"bundlePath": "/x", "labels": {"a": ' + b"9" * 5000 + b"}}", "integer of 5000 digits"),
        (b'{"args": ["sh"], "user": {"uid": 1' + b"0" * 30 + b"}}", "integer of 31 digits"),
        (b'{"bundlePath": "/x", "labels": {"a": NaN}}', "NaN is not a JSON value"),
        (b'{"bundlePath": "/x", "labels": {"a": -Infinity}}', "-Infinity is not a JSON value"),
        (
            json.dumps({"bundlePath": "/x", **{f"k{n}": n for n in range(60_000)}}).encode(),
            "and 59995 more",
        ),
        (json.dumps({"bundlePath": "/" + "a" * 100_000}).encode(), "a path is at most 4095"),
        (json.dumps({"bundlePath": "/tmp/" + "a" * 300}).encode(), "a file name is at most 255"),
        (json.dumps({"bundlePath": "/x", "checkpoint": "c" * 500_000}).encode(), "at most 128"),
        (json.dumps({"bundlePath": "/x", "labels": {"k" * 500_000: 1}}).encode(), "expected a"),
    ],
    ids=[
        "500000 deep",
        "a million open",
        "at the limit",
        "past the limit",
        "5000 digits",
        "31 digits",
        "NaN",
        "Infinity",
        "60000 unknown keys",
        "a path of 100000",
        "a name of 300",
        "an id of 500000",
        "a key of 500000",
    ],
)
async def test_a_body_past_a_limit_is_a_400_that_says_which(
    client: httpx.AsyncClient, body: bytes, message: str
) -> None:
    assert len(body) <= 1024 * 1024  # under the size limit: these are not 413s
    response = await client.post("/containers/limits", content=body)
    assert response.status_code == 400, response.text[:400]
    error = response.json()["error"]
    assert message in error, error[:400]
    assert len(error) < 400, "the message quotes the client's text cut short"
    assert (await client.get("/state")).status_code == 200


@pytest.mark.usefixtures("no_errors_logged")
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"signal": "9" * 100_000}, "is out of range"),
        ({"signal": "K" * 100_000}, "unknown signal 'KKKK"),
    ],
)
async def test_a_long_signal_is_refused_in_short(
    client: httpx.AsyncClient, bundle: Path, body: dict[str, Any], message: str
) -> None:
    created = await start_container(client, "sig", bundle)
    pid = created["processes"][0]["pid"]
    response = await client.post(f"/containers/sig/process/{pid}", json=body)
    assert response.status_code == 400, response.text[:400]
    assert message in response.json()["error"]
    assert len(response.json()["error"]) < 400


@pytest.mark.usefixtures("no_errors_logged")
async def test_an_exec_body_past_a_limit(client: httpx.AsyncClient, bundle: Path) -> None:
    await start_container(client, "execs", bundle)
    for body, message in [
        ({"args": ["sh"], "env": ["X" * 500_000]}, "env[0] must be NAME=VALUE, not 'XXXX"),
        ({"args": ["sh"], "cwd": "/" + "d" * 5000}, "a path is at most 4095"),
        ({"args": ["sh"], "user": {"additionalGids": [1, -1]}}, "additionalGids[1] must be"),
    ]:
        response = await client.put("/containers/execs/processes", json=body)
        assert response.status_code == 400, response.text[:400]
        assert message in response.json()["error"]
        assert len(response.json()["error"]) < 400
    assert len((await client.get("/containers/execs")).json()["processes"]) == 1
