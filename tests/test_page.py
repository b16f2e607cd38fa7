"""The status page at ``/``, in a real headless Chromium against a real daemon and real runc.

A test starts containers through the API as the other tests do, opens the page in a fresh
browser context, and asserts what a person would see; what the page does is checked where it
lands (``runc state``, the API). Every page-side wait is bounded (``browser.WAIT_MS``), and the
test as a whole by the suite's deadline. A missing Chromium fails the tests, it never skips
them: ``make install`` installs it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import trio
from playwright.sync_api import Page, Request, Route, expect

from containerd_trio import timestamps
from containerd_trio.api.page import CONTENT_SECURITY_POLICY
from containerd_trio.config import Listen
from containerd_trio.machine import read_machine

from .browser import WAIT_MS, Chromium, PageErrors
from .helpers import (
    COUNTER,
    FOREVER,
    BundleFactory,
    RunningDaemon,
    run_status,
    runc_ids,
    runc_state,
    start_container,
    until_trapped,
    wait_catching,
    wait_output,
)
from .test_restart_policy import UNTIL_USR1, self_breaking_bundle

T = TypeVar("T")

expect.set_options(timeout=WAIT_MS)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    browser = Chromium()
    browser.start()
    yield browser
    browser.close()


class OpenPage:
    """The status page open in a browser context of its own."""

    def __init__(self, chromium: Chromium, page: Page, errors: PageErrors) -> None:
        self.chromium = chromium
        self.page = page
        self.errors = errors
        #: Every request the page sent that changes something (not GET), as "METHOD path".
        self.changes: list[str] = []
        page.on("request", self._record)

    def _record(self, request: Request) -> None:
        if request.method != "GET":
            self.changes.append(f"{request.method} {httpx.URL(request.url).path}")

    async def run(self, step: Callable[[Page], T]) -> T:
        """Run ``step(page)`` on the browser's thread."""
        return await self.chromium.run(step, self.page)


@pytest.fixture
async def open_page(chromium: Chromium) -> AsyncIterator[Callable[..., Awaitable[OpenPage]]]:
    opened: list[OpenPage] = []

    def load(url: str, init_script: str | None) -> OpenPage:
        context = chromium.new_context()
        page = context.new_page()
        handle = OpenPage(chromium, page, PageErrors(page))
        if init_script is not None:
            page.add_init_script(init_script)
        page.goto(url)
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")
        expect(page.locator("#machine-cpus")).not_to_have_text("…")  # the state is in
        # A marker that a reload would wipe: the page must follow the daemon without one.
        page.evaluate("window.notReloaded = true")
        return handle

    async def open(url: str, init_script: str | None = None) -> OpenPage:
        handle = await chromium.run(load, url, init_script)
        opened.append(handle)
        return handle

    yield open
    for handle in opened:
        reloaded = await handle.run(lambda page: page.evaluate("window.notReloaded !== true"))
        await handle.run(lambda page: page.context.close())
        assert handle.errors.messages == [], "the page had errors"
        assert not reloaded, "the page was reloaded"


def row(page: Page, container_id: str) -> Any:
    """The list's row of a container (rows out of view are kept hidden, for reuse)."""
    return page.locator(f'#rows .row:not([hidden])[data-id="{container_id}"]')


# --- served to browsers only ------------------------------------------------------------------


async def test_the_page_is_for_browsers_and_api_clients_keep_their_answers(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    assert '<script type="module" src="ui/app.js">' in page.text
    assert "<script>" not in page.text  # nothing inline: the policy would refuse it anyway
    # Media types are case-insensitive (RFC 9110 8.3.1): TEXT/HTML was the API's 404.
    assert (await client.get("/", headers={"Accept": "TEXT/HTML"})).status_code == 200

    # API clients get the 404 they got before the page existed, which now says where the page
    # and the API are: it was "no such endpoint: GET /", as if the daemon had no page.
    for accept in (None, "*/*", "application/json", "text/html;q=0"):
        headers = {"Accept": accept} if accept is not None else {}
        response = await client.get("/", headers=headers)
        assert response.status_code == 404, accept
        assert response.json() == {
            "error": "the status page is served to a browser (Accept: text/html); the API is"
            " described at /openapi.json (docs/api.md)"
        }
    assert (await client.get("/state")).headers["content-type"] == "application/json"

    for name, kind in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ]:
        response = await client.get(f"/ui/{name}", headers={"Accept-Encoding": "identity"})
        assert response.status_code == 200, name
        assert response.headers["content-type"] == kind
        assert response.headers["x-content-type-options"] == "nosniff"
        # Unchanged since the browser's copy: a few bytes instead of the file.
        # (Asked for the same representation, as a browser revalidates its copy.)
        again = await client.get(
            f"/ui/{name}",
            headers={"Accept-Encoding": "identity", "If-None-Match": response.headers["etag"]},
        )
        assert again.status_code == 304 and again.content == b""
    raw = await client.get("/ui/app.js", headers={"Accept-Encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip"
    assert b"EventStream" in raw.content  # httpx undid the gzip; the file is the real one
    assert raw.headers["vary"] == "Accept, Accept-Encoding"
    # A client that refuses gzip (q=0, RFC 9110's "not acceptable") gets the file as it is;
    # one that takes any coding (*) gets it gzipped. It got gzip whenever the word was there.
    for refusal in ("gzip;q=0", "identity, gzip;q=0", "*;q=0, identity"):
        plain = await client.get("/ui/app.js", headers={"Accept-Encoding": refusal})
        assert "content-encoding" not in plain.headers, refusal
        assert b"EventStream" in plain.content
    starred = await client.get("/ui/app.js", headers={"Accept-Encoding": "*"})
    assert starred.headers["content-encoding"] == "gzip"
    # Each coding is a representation of its own, with its own strong validator (RFC 9110
    # 8.8.3): a cache that kept the gzipped one must not have it confirmed to a client that
    # refuses gzip. Both had the same ETag.
    assert raw.headers["etag"] != plain.headers["etag"]
    again = await client.get(
        "/ui/app.js",
        headers={"Accept-Encoding": "identity", "If-None-Match": raw.headers["etag"]},
    )
    assert again.status_code == 200 and b"EventStream" in again.content
    again = await client.get(
        "/ui/app.js", headers={"Accept-Encoding": "gzip", "If-None-Match": raw.headers["etag"]}
    )
    assert again.status_code == 304  # the browser's own copy, gzipped, confirmed
    # If-None-Match: * matches any current representation (a 304), and a weak tag matches
    # too (its comparison is the weak one); an unrelated tag does not.
    for tags, status in [
        ("*", 304),
        (f"W/{plain.headers['etag']}", 304),
        (f'"other", {plain.headers["etag"]}', 304),
        ('"other"', 200),
    ]:
        answer = await client.get(
            "/ui/app.js", headers={"Accept-Encoding": "identity", "If-None-Match": tags}
        )
        assert answer.status_code == status, tags

    for path in ("/ui/nope.js", "/ui/page.py", "/ui/", "/ui/static"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert "error" in response.json()
    response = await client.get("/ui/..%2Fpage.py")
    assert response.status_code == 400


# --- the list ---------------------------------------------------------------------------------


async def test_the_empty_lists_example_names_the_daemon_as_curl_reaches_it(
    daemon: RunningDaemon, open_page: Callable[[str], Awaitable[OpenPage]]
) -> None:
    """The empty list shows how to start a first container, with this daemon's address; over
    TLS (--tls-cert) that is an https:// URL. It gave the bare HOST:PORT there too, to which
    curl speaks plain HTTP and the TLS listener answers "Client sent an HTTP request to an
    HTTPS server". (The page is served over plain HTTP here: the https one is asked of the
    function that writes the example, as the page asks it.)"""
    page = await open_page(daemon.url)
    host = daemon.url.removeprefix("http://")

    def examples(page: Page) -> tuple[str, str]:
        expect(page.locator("#rows-example")).to_be_visible()
        shown = page.locator("#rows-example").text_content() or ""
        over_tls: str = page.evaluate(
            """async () => {
                const { firstContainerExample } = await import("./ui/format.js");
                return firstContainerExample({ protocol: "https:", host: "127.0.0.1:8443" });
            }"""
        )
        return shown, over_tls

    shown, over_tls = await page.run(examples)
    assert f"curl -XPOST {host}/containers/web " in shown
    assert "curl -XPOST https://127.0.0.1:8443/containers/web " in over_tls
    assert over_tls.startswith(".venv/bin/python examples/make-bundle.py /containers/web\n")


async def test_lists_containers_and_follows_them_live(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    open_page: Callable[[str], Awaitable[OpenPage]],
) -> None:
    await start_container(client, "web", make_bundle(FOREVER), labels={"team": "infra"})
    page = await open_page(daemon.url)
    machine = read_machine()

    def listed(page: Page) -> None:
        web = row(page, "web")
        expect(web.locator(".badge")).to_have_text("running")
        expect(web.locator(".chip")).to_have_text(["team=infra"])
        expect(web.locator(".c-uptime")).to_have_text(re.compile(r"^\d+s$"))
        expect(page.locator("#machine-cpus")).to_contain_text(f"{machine.cpus} CPU")
        expect(page.locator("#machine-memory")).to_contain_text("GiB memory")

    await page.run(listed)

    # Started with the API after the page loaded: it appears, without a reload.
    await start_container(client, "late", make_bundle(FOREVER))
    await page.run(lambda page: expect(row(page, "late").locator(".badge")).to_have_text("running"))

    # Its exit shows live: in the list and in the event feed.
    response = await client.patch("/containers/web", json={"signal": 9})
    assert response.status_code == 200

    def exited(page: Page) -> None:
        web = row(page, "web")
        expect(web.locator(".badge")).to_have_text("stopped")
        expect(web.locator(".c-exit")).to_have_text("137 (SIGKILL)")
        exit_events = page.locator('#event-feed .event[data-type="exit"][data-id="web"]')
        expect(exit_events).to_have_count(1)
        expect(exit_events.locator(".event-detail")).to_contain_text("status 137 (SIGKILL)")
        expect(page.locator('[data-count="all"]')).to_have_text("2")
        expect(page.locator('[data-count="stopped"]')).to_have_text("1")
        # Live figures come for the container that runs, from its cgroup.
        expect(row(page, "late").locator(".c-memory")).to_have_text(
            re.compile(r"^\d+(\.\d)? (B|KiB|MiB)$")
        )

    await page.run(exited)


async def test_a_container_started_again_shows_running_live(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    open_page: Callable[[str], Awaitable[OpenPage]],
) -> None:
    """A start again (``ctr-trio start``, ``restart``) of a container with no restart policy
    publishes its ``start-container`` alone, no ``delete`` first (the same container, since
    2026-12-06): the page open shows it running again, live, in its place."""
    await start_container(client, "first", make_bundle(FOREVER))
    await start_container(client, "again", make_bundle(FOREVER))
    response = await client.patch("/containers/again", json={"signal": 9})
    assert response.status_code == 200
    assert (await client.post("/containers/again/wait")).json()["exitStatus"] == 137
    page = await open_page(daemon.url)

    def badge(page: Page, text: str) -> None:
        expect(row(page, "again").locator(".badge")).to_have_text(text)

    await page.run(partial(badge, text="stopped"))
    started = await client.post("/containers/again/start")
    assert started.status_code == 201, started.text

    def running(page: Page) -> None:
        badge(page, "running")
        expect(page.locator('[data-count="running"]')).to_have_text("2")

    await page.run(running)


#: Which of ``values``, as the page's own ``format.js`` function ``format`` writes them, do not
#: fit in ``cell``, each tried there in its place.
CUT_IN_ITS_CELL = """async (cell, [format, values]) => {
    const formats = await import("./ui/format.js");
    const shown = cell.textContent;
    const cut = [];
    for (const value of values) {
        cell.textContent = formats[format](value);
        if (cell.scrollWidth > cell.clientWidth) cut.push(cell.textContent);
    }
    cell.textContent = shown;
    return cut;
}"""
#: Every exit status the page names: the 31 standard signals' and 255's.
NAMED_EXIT_STATUSES = [*range(129, 160), 255]
#: CPU shares of a busy container on 2, 16 and 128 CPUs (one CPU's is 100 %).
CPU_SHARES = [200, 1600, 12800]


async def test_an_exit_status_spells_out_any_standard_signal(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    open_page: Callable[[str], Awaitable[OpenPage]],
) -> None:
    """An exit status past 128 names its signal, whichever of the 31 standard ones it is, in
    the list and the feed, as 137 (SIGKILL) does. The page knew eight, so 138 (SIGUSR1), 142
    (SIGALRM) or 135 (SIGBUS) came as bare numbers."""
    page = await open_page(daemon.url)
    await start_container(client, "usr1", make_bundle(["sh", "-c", "exit 138"]))

    def spelt_out(page: Page) -> None:
        expect(row(page, "usr1").locator(".c-exit")).to_have_text("138 (SIGUSR1)")
        exit_event = page.locator('#event-feed .event[data-type="exit"][data-id="usr1"]')
        expect(exit_event.locator(".event-detail")).to_contain_text("status 138 (SIGUSR1)")
        # Whole on screen, not cut to "138 (…" by its column: on this 1440-pixel window and
        # on a 1280-pixel one (the narrowest beside the feed).
        for width in (1440, 1280):
            page.set_viewport_size({"width": width, "height": 900})
            cell = row(page, "usr1").locator(".c-exit")
            expect(cell).to_have_text("138 (SIGUSR1)")
            cut = cell.evaluate("cell => cell.scrollWidth > cell.clientWidth")
            assert not cut, f"the exit status is cut at {width} pixels"
            # Nor is any other the page can show, the widest signals' names (143 (SIGTERM) and
            # 154 (SIGVTALRM) were cut at 1440 and 1280 pixels) and 255 (unknown) among them.
            assert cell.evaluate(CUT_IN_ITS_CELL, ["exitStatus", NAMED_EXIT_STATUSES]) == []
            # The CPU column's too: 1600 % (16 CPUs busy) read `16…` at 1440 pixels.
            cpu = row(page, "usr1").locator(".c-cpu")
            assert cpu.evaluate(CUT_IN_ITS_CELL, ["percent", CPU_SHARES]) == [], width
            # ... and the wider column leaves the row's actions whole too.
            delete, line = row(page, "usr1").locator("button", has_text="Delete"), row(page, "usr1")
            button_box, row_box = delete.bounding_box(), line.bounding_box()
            assert button_box is not None and row_box is not None
            assert button_box["x"] + button_box["width"] <= row_box["x"] + row_box["width"]

    await page.run(spelt_out)


async def test_many_containers_are_a_window_of_rows(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    open_page: Callable[[str], Awaitable[OpenPage]],
) -> None:
    """Only the rows in view are in the document; scrolling and filtering bring the others."""
    count = 60
    bundle = make_bundle(FOREVER)  # one bundle, many containers, as the benchmark does
    limiter = trio.CapacityLimiter(4)

    async def start(n: int) -> None:
        async with limiter:
            await start_container(client, f"c{n:03d}", bundle, labels={"shard": str(n % 3)})

    async with trio.open_nursery() as nursery:
        for n in range(count):
            nursery.start_soon(start, n)
    page = await open_page(daemon.url)

    def scrolled(page: Page) -> None:
        expect(page.locator('[data-count="all"]')).to_have_text(str(count))
        expect(row(page, "c000")).to_be_visible()
        in_document = page.locator("#rows .row:not([hidden])").count()
        assert 10 < in_document < count, in_document
        page.locator("#rows").evaluate("body => { body.scrollTop = body.scrollHeight; }")
        expect(row(page, f"c{count - 1:03d}")).to_be_visible()
        expect(row(page, "c000")).to_have_count(0)
        page.locator("#filter").fill("shard=2")
        expect(page.locator("#rows .row:not([hidden])")).to_have_count(count // 3)
        page.locator("#filter").fill("c007")
        expect(page.locator("#rows .row:not([hidden])")).to_have_count(1)
        expect(row(page, "c007")).to_be_visible()

    await page.run(scrolled)


async def test_an_exit_its_policy_restarts_shows_restarting_before_the_container_is_read(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    open_page: Callable[[str], Awaitable[OpenPage]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The exit of an ``always`` container says its policy restarts it (the event's
    ``restarting``): the page shows it restarting from the event. Before, it showed it
    stopped until it had read the container again; here every read of it after the first is
    held, and the page said ``stopped`` for good."""
    monkeypatch.setattr("containerd_trio.restarts.RESTART_FIRST_DELAY", 30.0)
    page = await open_page(daemon.url)
    reads: list[Route] = []

    def first_read_only(route: Route) -> None:
        reads.append(route)
        if len(reads) == 1:
            route.continue_()

    await page.run(lambda page: page.route(re.compile(r".*/containers/waits$"), first_read_only))
    bundle = make_bundle(["sh", "-c", "sleep 2; exit 2"])
    await start_container(client, "waits", bundle, restartPolicy={"name": "always"})

    def shown(page: Page) -> None:
        waits = row(page, "waits")
        expect(waits.locator(".badge")).to_have_text("running")
        expect(waits.locator(".badge")).to_have_text("restarting", timeout=WAIT_MS + 2000)
        expect(waits.locator(".c-exit")).to_have_text("2")
        # The page's read of it after the exit may come after the badge (which is the
        # point): it is seen once Playwright routes it, which it does only while it is
        # driven, so it is driven until then (in steps, to a deadline).
        deadline = time.monotonic() + WAIT_MS / 1000
        while len(reads) < 2 and time.monotonic() < deadline:
            page.wait_for_timeout(50)

    await page.run(shown)
    assert len(reads) >= 2, "the page read the container once only"
    await client.delete("/containers/waits", params={"timeout": 0})


async def test_a_container_waiting_out_its_restart_delay_shows_restarting(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    open_page: Callable[[str], Awaitable[OpenPage]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """docker's Restarting: an ``always`` container whose init exits 2 at once waits out its
    restart delay (made 5 s, then 10 s: long enough for a page to look) stopped, with
    ``state.restarting``. The page open before its start shows it restarting, exit 2, live;
    its own page shows its policy and restart count, which follows the restart; a page opened
    during the delay shows it restarting from ``GET /state``; and Kill ends the waiting."""
    monkeypatch.setattr("containerd_trio.restarts.RESTART_FIRST_DELAY", 5.0)
    page = await open_page(daemon.url)
    policy = {"name": "always"}
    bundle = make_bundle(["sh", "-c", "exit 2"])
    await start_container(client, "looping", bundle, restartPolicy=policy)

    def restarting_live(page: Page) -> None:
        looping = row(page, "looping")
        expect(looping.locator(".badge")).to_have_text("restarting")
        expect(looping.locator(".badge")).to_have_class("badge badge-restarting")
        expect(looping.locator(".c-exit")).to_have_text("2")
        expect(looping.locator('button[data-action="kill"]')).to_have_count(1)
        looping.locator(".c-id a").click()
        expect(page.locator("#c-title")).to_have_text("looping")
        expect(page.locator("#c-status")).to_have_text("restarting")
        expect(page.locator('#c-overview dd[data-field="restarts"]')).to_have_text("0 (always)")

    await page.run(restarting_live)
    assert (await client.get("/containers/looping")).json()["state"]["restarting"] is True

    fresh = await open_page(daemon.url)
    await fresh.run(
        lambda page: expect(row(page, "looping").locator(".badge")).to_have_text("restarting")
    )

    def restarted(page: Page) -> None:
        # The restart (no delete before it: the same container) is followed, and its init
        # exits 2 again: restarting still, once more.
        restarts = page.locator('#c-overview dd[data-field="restarts"]')
        expect(restarts).to_have_text("1 (always)", timeout=WAIT_MS + 5000)
        expect(page.locator("#c-status")).to_have_text("restarting")
        starts = page.locator('#event-feed .event[data-type="start-container"][data-id="looping"]')
        expect(starts).to_have_count(2)

    await page.run(restarted)
    assert (await client.get("/containers/looping")).json()["restartCount"] == 1

    def kill(page: Page) -> None:
        # A kill cancels the restart: its answer says so (its restart-cancelled comes after).
        page.locator('#c-actions button[data-action="kill"]').click()
        page.locator("#confirm-ok").click()
        expect(page.locator("#c-status")).to_have_text("stopped")
        expect(page.locator('#c-overview dd[data-field="exit"]')).to_have_text("2")

    await page.run(kill)
    state = run_status((await client.get("/containers/looping")).json()["state"])
    assert state == {"status": "stopped", "exitStatus": 2}


async def test_a_restart_cancelled_elsewhere_stops_restarting_live(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    open_page: Callable[[str], Awaitable[OpenPage]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A restart called off elsewhere (``ctr-trio stop``'s signal through ``PATCH``, not the
    page's own Kill, whose answer the page shows) comes as ``restart-cancelled``: the open
    pages, the list and the container's own, show it stopped, with Kill gone, without a
    reload or a reconnection."""
    monkeypatch.setattr("containerd_trio.restarts.RESTART_FIRST_DELAY", 30.0)
    listing = await open_page(daemon.url)
    policy = {"name": "always"}
    await start_container(
        client, "looping", make_bundle(["sh", "-c", "exit 2"]), restartPolicy=policy
    )
    await listing.run(
        lambda page: expect(row(page, "looping").locator(".badge")).to_have_text("restarting")
    )
    detail = await open_page(f"{daemon.url}/#/containers/looping")
    await detail.run(lambda page: expect(page.locator("#c-status")).to_have_text("restarting"))

    patched = await client.patch("/containers/looping", json={"signal": "TERM"})
    assert patched.status_code == 200, patched.text
    assert run_status(patched.json()["state"]) == {"status": "stopped", "exitStatus": 2}

    def stopped_in_the_list(page: Page) -> None:
        looping = row(page, "looping")
        expect(looping.locator(".badge")).to_have_text("stopped")
        expect(looping.locator(".c-exit")).to_have_text("2")
        expect(looping.locator('button[data-action="kill"]')).to_have_count(0)
        cancelled = '#event-feed .event[data-type="restart-cancelled"][data-id="looping"]'
        expect(page.locator(cancelled)).to_have_count(1)
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")

    def stopped_on_its_page(page: Page) -> None:
        expect(page.locator("#c-status")).to_have_text("stopped")
        expect(page.locator('#c-actions button[data-action="kill"]')).to_have_count(0)
        expect(page.locator('#c-overview dd[data-field="restarts"]')).to_have_text("0 (always)")

    await listing.run(stopped_in_the_list)
    await detail.run(stopped_on_its_page)
    assert listing.changes == detail.changes == []  # the pages sent nothing: the event did it


async def test_a_restart_that_fails_to_start_stops_restarting_live(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    open_page: Callable[[str], Awaitable[OpenPage]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A restart whose start fails (its bundle has lost its config.json) comes as
    ``restart-failed``: the open page, which showed the container restarting during the delay,
    shows it stopped, without a reload."""
    monkeypatch.setattr("containerd_trio.restarts.RESTART_FIRST_DELAY", 3.0)
    page = await open_page(daemon.url)
    bundle = self_breaking_bundle(make_bundle)
    await start_container(client, "broken", bundle, restartPolicy={"name": "always"})

    def restarting_then_stopped(page: Page) -> None:
        badge = row(page, "broken").locator(".badge")
        expect(badge).to_have_text("restarting")
        expect(badge).to_have_text("stopped", timeout=WAIT_MS + 3000)
        failed = '#event-feed .event[data-type="restart-failed"][data-id="broken"]'
        expect(page.locator(failed)).to_have_count(1)

    await page.run(restarting_then_stopped)
    got = (await client.get("/containers/broken")).json()
    assert run_status(got["state"]) == {"status": "stopped", "exitStatus": 1}


# --- one container ----------------------------------------------------------------------------


def local_time(text: str) -> str:
    """An API time as a container's page writes it (its Created): local time, to the second."""
    seconds = timestamps.parse_ns(text) // 1_000_000_000
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def shows_run_times(page: Page, state: dict[str, Any]) -> None:
    """The container's page shows its run's times as the API's ``state`` has them: Started
    (``startedAt``) and Finished (``finishedAt``), each with the API's own string as its
    tooltip, and "—" for one the API leaves out."""
    for field, key in (("started", "startedAt"), ("finished", "finishedAt")):
        shown = page.locator(f'#c-overview dd[data-field="{field}"]')
        if key in state:
            expect(shown).to_have_text(local_time(state[key]))
            expect(shown).to_have_attribute("title", state[key])
        else:
            expect(shown).to_have_text("—")
            expect(shown).to_have_attribute("title", "")


async def test_a_containers_page_shows_its_runs_start_and_finish_live(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    open_page: Callable[[str], Awaitable[OpenPage]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A container's page shows its run's start and finish (``state.startedAt`` and
    ``state.finishedAt``, docker's State.StartedAt and State.FinishedAt) as the API gives them,
    live: a started run's start (its createdAt) and no finish; its init's exit sets Finished;
    the restart by its ``always`` policy (after a 5 s delay, so the page can be looked at
    stopped) moves Started, Created staying, and clears Finished, which the API leaves out
    while the run lasts, and the uptime counts from the restart; a pause keeps both; a kill
    sets Finished to the wait's exitedAt. Before, the page showed neither time, and the uptime
    of a restarted container counted from its creation."""
    monkeypatch.setattr("containerd_trio.restarts.RESTART_FIRST_DELAY", 5.0)
    info = await start_container(
        client, "runs", make_bundle(UNTIL_USR1), restartPolicy={"name": "always"}
    )
    created = info["createdAt"]
    assert info["state"]["startedAt"] == created and "finishedAt" not in info["state"]
    pid = info["processes"][0]["pid"]
    await wait_catching(pid, signal.SIGUSR1)
    page = await open_page(f"{daemon.url}/#/containers/runs")
    overview = '#c-overview dd[data-field="{}"]'.format

    def running_first(page: Page) -> None:
        expect(page.locator("#c-status")).to_have_text("running")
        expect(page.locator(overview("created"))).to_have_attribute("title", created)
        shows_run_times(page, info["state"])

    await page.run(running_first)

    os.kill(pid, signal.SIGUSR1)  # its init exits 3: restarting, for 5 s

    def restarting(page: Page) -> None:
        expect(page.locator("#c-status")).to_have_text("restarting")
        expect(page.locator(overview("uptime"))).to_have_text(re.compile(r"^stopped \d+s ago$"))

    await page.run(restarting)
    stopped = (await client.get("/containers/runs")).json()
    assert stopped["state"]["restarting"] is True, stopped  # the delay has not passed yet
    assert stopped["state"]["startedAt"] == created and "finishedAt" in stopped["state"]
    await page.run(lambda page: shows_run_times(page, stopped["state"]))

    def restarted(page: Page) -> str:
        # Its restartCount comes with its object, read again after the restart's start.
        restarts = page.locator(overview("restarts"))
        expect(restarts).to_have_text("1 (always)", timeout=WAIT_MS + 5000)
        expect(page.locator("#c-status")).to_have_text("running")
        return page.locator(overview("uptime")).inner_text()

    uptime = await page.run(restarted)
    again = (await client.get("/containers/runs")).json()
    assert again["restartCount"] == 1 and again["createdAt"] == created, again
    assert again["state"]["startedAt"] > stopped["state"]["finishedAt"], again
    assert "finishedAt" not in again["state"], again
    await page.run(lambda page: shows_run_times(page, again["state"]))
    await page.run(
        lambda page: expect(page.locator(overview("created"))).to_have_attribute("title", created)
    )
    # The uptime counts from the restart, 5 s (its delay) and more after the creation.
    shown = re.fullmatch(r"(\d+)s", uptime)
    since_created = (time.time_ns() - timestamps.parse_ns(created)) / 1e9
    assert shown is not None and int(shown[1]) + 4 < since_created, (uptime, since_created)

    # A pause (from elsewhere: its event) changes the status, not the run's times.
    paused = await client.patch("/containers/runs", json={"status": "paused"})
    assert paused.status_code == 200, paused.text
    await page.run(lambda page: expect(page.locator("#c-status")).to_have_text("paused"))
    await page.run(lambda page: shows_run_times(page, again["state"]))
    resumed = await client.patch("/containers/runs", json={"status": "running"})
    assert resumed.status_code == 200, resumed.text
    await page.run(lambda page: expect(page.locator("#c-status")).to_have_text("running"))

    # Its user's kill ends the run for good: Finished is its init's exit, the wait's exitedAt.
    killed = await client.patch("/containers/runs", json={"signal": "KILL"})
    assert killed.status_code == 200, killed.text
    with trio.fail_after(10):
        waited = (await client.post("/containers/runs/wait")).json()
    ended = (await client.get("/containers/runs")).json()
    assert ended["state"]["finishedAt"] == waited["exitedAt"], (ended, waited)
    assert ended["state"]["startedAt"] == again["state"]["startedAt"], ended

    def killed_shown(page: Page) -> None:
        expect(page.locator("#c-status")).to_have_text("stopped")
        expect(page.locator(overview("exit"))).to_have_text("137 (SIGKILL)")
        shows_run_times(page, ended["state"])

    await page.run(killed_shown)
    assert page.changes == []  # the page sent nothing: the events and its reads did it


async def test_a_containers_log_is_followed_live_with_its_streams_apart(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    open_page: Callable[[str], Awaitable[OpenPage]],
) -> None:
    bundle = make_bundle(["sh", "-c", "echo out-one; echo err-one >&2; sleep 100000"])
    await start_container(client, "talker", bundle)
    page = await open_page(f"{daemon.url}/#/containers/talker")

    def first_lines(page: Page) -> None:
        expect(page.locator("#c-title")).to_have_text("talker")
        expect(page.locator("#log .line.stdout .line-data")).to_have_text(["out-one"])
        expect(page.locator("#log .line.stderr .line-data")).to_have_text(["err-one"])
        expect(page.locator("#log .line.stderr .line-stream")).to_have_text(["err"])
        expect(page.locator("#c-processes tr").first).to_contain_text("sleep 100000")
        expect(page.locator('#c-overview dd[data-field="bundle"]')).to_have_text(str(bundle))

    await page.run(first_lines)

    # A process added now writes into the same log, and the open page shows it as it comes.
    response = await client.put(
        "/containers/talker/processes",
        json={"args": ["sh", "-c", "echo later-out; echo later-err >&2"]},
    )
    assert response.status_code == 201

    def live_lines(page: Page) -> None:
        log = page.locator("#log")
        expect(log.locator(".line.stdout .line-data")).to_have_text(["out-one", "later-out"])
        expect(log.locator(".line.stderr .line-data")).to_have_text(["err-one", "later-err"])
        page.locator('#log-streams button[data-stream="stderr"]').click()
        expect(log.locator(".line.stdout").first).to_be_hidden()
        expect(log.locator(".line.stderr").first).to_be_visible()

    await page.run(live_lines)


#: Counts its runs in its rootfs and says which this is, then waits for SIGUSR1 (exit 3): a
#: start again of the container writes ``run-2`` where the first wrote ``run-1``.
COUNTED_RUN = (
    "sh",
    "-c",
    'n=$(($(cat /runs 2>/dev/null || echo 0) + 1)); echo "$n" > /runs; echo "run-$n"; '
    + until_trapped("trap 'exit 3' USR1"),
)


async def test_a_containers_log_ended_at_its_stop_is_followed_again_at_its_start_again(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    open_page: Callable[[str], Awaitable[OpenPage]],
) -> None:
    """A container's page says "end of log" when its container stops. A start again
    (``ctr-trio start``; a restart by its policy publishes the same ``start-container``) writes
    on into the same log, and the open page follows it again, the last run's lines kept."""
    info = await start_container(client, "relog", make_bundle(COUNTED_RUN))
    pid = info["processes"][0]["pid"]
    await wait_catching(pid, signal.SIGUSR1)
    page = await open_page(f"{daemon.url}/#/containers/relog")
    lines = "#log .line-data"
    await page.run(lambda page: expect(page.locator(lines)).to_have_text(["run-1"]))
    os.kill(pid, signal.SIGUSR1)

    def ended(page: Page) -> None:
        expect(page.locator("#log-status")).to_have_text("end of log: the container has stopped")

    await page.run(ended)
    started = await client.post("/containers/relog/start")
    assert started.status_code == 201, started.text

    def followed_again(page: Page) -> None:
        expect(page.locator(lines)).to_have_text(["run-1", "run-2"])
        expect(page.locator("#log-status")).to_have_text("following")

    await page.run(followed_again)


async def test_a_line_cut_into_records_reads_whole_in_the_log(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    open_page: Callable[[str], Awaitable[OpenPage]],
) -> None:
    """The log cuts a line past 16 KiB into records (logs.md), a record of the other stream
    before or between its pieces here. The page showed each piece as a line of its own, stamped;
    ``ctr-trio logs`` and docker's print the line whole, and so does the page now."""
    bundle = make_bundle(
        ["sh", "-c", "head -c 40000 /dev/zero | tr '\\0' x; echo mid >&2; echo; sleep 100000"]
    )
    await start_container(client, "longline", bundle)
    # The log has all of it once the line's newline is in and "mid": the logger reads the two
    # pipes each in its turn, so "mid" alone may come before the line's pieces.
    records: list[dict[str, Any]] = []
    with trio.fail_after(30):
        async with client.stream(
            "GET", "/containers/longline/logs", params={"follow": "true"}
        ) as response:
            async for line in response.aiter_lines():
                records.append(json.loads(line))
                out = "".join(r["data"] for r in records if r["stream"] == "stdout")
                if out.endswith("\n") and any(r["data"] == "mid\n" for r in records):
                    break
    # The premise: the line is in several records.
    assert [record["stream"] for record in records].count("stdout") >= 3
    page = await open_page(f"{daemon.url}/#/containers/longline")

    def whole(page: Page) -> None:
        expect(page.locator("#log .line.stdout .line-data")).to_have_text(["x" * 40000])
        expect(page.locator("#log .line.stderr .line-data")).to_have_text(["mid"])

    await page.run(whole)


async def test_a_containers_page_opened_directly_follows_its_logs_end(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    open_page: Callable[[str], Awaitable[OpenPage]],
) -> None:
    """A container's page opened by its address (a link, a bookmark, a reload) asks for the
    log before the daemon's state is in, and so writes its first lines while the container is
    not shown yet. The view stayed at its top then, as if the reader had scrolled up, and its
    status said nothing instead of following."""
    bundle = make_bundle(
        ["sh", "-c", "seq 1 200; i=0; while true; i=$((i+1)); do echo more $i; sleep 0.2; done"]
    )
    await start_container(client, "scroller", bundle)
    await wait_output(client, "scroller", "200")
    page = await open_page(f"{daemon.url}/")

    def open_directly(page: Page) -> None:
        fresh = page.context.new_page()
        errors = PageErrors(fresh)
        # The state is held until the log's first lines are in: the order a first load
        # nearly always takes (the log is asked for at once, the state after the stream).
        held: list[Route] = []
        fresh.route(re.compile(r".*/state$"), lambda route: held.append(route))
        fresh.goto(f"{daemon.url}/#/containers/scroller")
        expect(fresh.locator("#log .line-data").first).to_have_text("1")
        deadline = time.monotonic() + WAIT_MS / 1000
        while not held and time.monotonic() < deadline:
            fresh.wait_for_timeout(50)  # lets Playwright take the route's request meanwhile
        assert held, "the page never asked for the state"
        assert fresh.locator("#c-body").is_hidden()  # the lines came before the container
        held[0].continue_()
        expect(fresh.locator("#c-status")).to_have_text("running")
        expect(fresh.locator("#log-status")).to_have_text("following")
        # Lines come on after the container is shown: the view is at their end.
        fresh.wait_for_function(
            """() => {
                const log = document.getElementById("log");
                const last = log.lastElementChild?.querySelector(".line-data")?.textContent;
                return /^more [0-9]+$/.test(last ?? "")
                    && log.scrollHeight > 2 * log.clientHeight
                    && log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
            }""",
            timeout=WAIT_MS,
        )
        # Scrolled up, the reader stays where they are while lines come on. (A line that
        # lands between the scroll and its event, a frame later, takes the view down again,
        # as it would a person's: scroll again then.)
        scroll_up = """log => new Promise((done) => {
            log.scrollTo(0, 0);
            requestAnimationFrame(() => requestAnimationFrame(() => done(log.scrollTop)));
        })"""
        for _ in range(5):
            if fresh.locator("#log").evaluate(scroll_up) == 0:
                break
        lines = fresh.locator("#log .line").count()
        expect(fresh.locator("#log .line").nth(lines)).to_be_attached()
        assert fresh.locator("#log").evaluate("log => log.scrollTop") == 0
        fresh.close()
        assert errors.messages == []

    await page.run(open_directly)


async def test_a_log_taken_up_again_keeps_the_lines_of_the_last_time_shown(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    open_page: Callable[[str], Awaitable[OpenPage]],
) -> None:
    """Records share a timestamp (the lines of one read of a pipe). A log answer that breaks
    (a server's death, a hand-over, at a chunk's end) after the first of them, the page's
    next answer repeats them all: it drops the one shown, not the others. It dropped every
    record not newer than the last shown, and so lost the rest of the burst."""
    bundle = make_bundle(["sh", "-c", "printf 'one\\ntwo\\nthree\\n'; sleep 100000"])
    await start_container(client, "burst", bundle)
    await wait_output(client, "burst", "three")
    records = (await client.get("/containers/burst/logs")).text.splitlines()
    assert [json.loads(line)["data"] for line in records] == ["one\n", "two\n", "three\n"]
    # One write, one read by the logger: one timestamp (the premise of this test).
    assert len({json.loads(line)["timestamp"] for line in records}) == 1
    page = await open_page(f"{daemon.url}/")

    def follow_a_broken_answer(page: Page) -> None:
        # The first answer of the log's follow breaks off after its first record (its end
        # comes while the container runs): the page asks again, as after a break.
        page.route(
            re.compile(r".*/containers/burst/logs\?follow=true&tail=500$"),
            lambda route: route.fulfill(
                status=200, content_type="application/x-ndjson", body=records[0] + "\n"
            ),
            times=1,
        )
        page.evaluate("location.hash = '#/containers/burst'")
        expect(page.locator("#log .line-data")).to_have_text(["one", "two", "three"])

    await page.run(follow_a_broken_answer)


async def test_a_containers_figures_name_no_cpu_share_before_two_samples(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    bundle: Path,
    open_page: Callable[[str], Awaitable[OpenPage]],
) -> None:
    """CPU is the share used between two samples: after the first there is none to show, and
    the figure is a dash, as it is in the list. It was "— of one CPU"."""
    await start_container(client, "sampled", bundle)
    page = await open_page(daemon.url)

    def figures(page: Page) -> None:
        # The first sample goes through; the next ones wait.
        held: list[Route] = []

        def sample(route: Route) -> None:
            if page.evaluate("window.containerdTrio.store.containers.get('sampled').stats"):
                held.append(route)
            else:
                route.continue_()

        page.route(re.compile(r".*/containers/sampled/stats$"), sample)
        row(page, "sampled").locator(".c-id a").click()
        resources = page.locator("#c-resources")
        expect(resources.locator('dd[data-field="memory"]')).to_have_text(
            re.compile(r"^[0-9.]+ (B|KiB|MiB) \(no limit\)$")
        )
        expect(resources.locator('dd[data-field="cpu"]')).to_have_text("—")
        deadline = time.monotonic() + WAIT_MS / 1000
        while not held and time.monotonic() < deadline:
            page.wait_for_timeout(50)  # lets Playwright take the next sample's request
        assert held, "the page took no second sample"
        for route in held:
            route.continue_()
        page.unroute(re.compile(r".*/containers/sampled/stats$"))  # lets any held since go
        expect(resources.locator('dd[data-field="cpu"]')).to_have_text(
            re.compile(r"^[0-9.]+% of one CPU$")
        )

    await page.run(figures)


async def test_pause_and_resume_from_the_page_reach_runc(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    bundle: Path,
    open_page: Callable[[str], Awaitable[OpenPage]],
) -> None:
    state_dir = daemon.config.state_dir
    await start_container(client, "napper", bundle)
    page = await open_page(daemon.url)

    def pause_in_the_list(page: Page) -> None:
        row(page, "napper").locator('button[data-action="pause"]').click()
        expect(row(page, "napper").locator(".badge")).to_have_text("paused")

    await page.run(pause_in_the_list)
    assert runc_state(state_dir, "napper")["status"] == "paused"

    def resume_on_its_page(page: Page) -> None:
        row(page, "napper").locator(".c-id a").click()
        expect(page.locator("#c-status")).to_have_text("paused")
        page.locator('#c-actions button[data-action="resume"]').click()
        expect(page.locator("#c-status")).to_have_text("running")
        expect(page.locator('#c-actions button[data-action="pause"]')).to_be_visible()

    await page.run(resume_on_its_page)
    assert runc_state(state_dir, "napper")["status"] == "running"
    assert page.changes == ["PATCH /containers/napper", "PATCH /containers/napper"]
    types = await page.run(
        lambda page: page.locator('#event-feed .event[data-id="napper"]').evaluate_all(
            "items => items.map(item => item.dataset.type)"
        )
    )
    assert types == ["resume", "pause", "start-container"]  # newest first


async def test_container_output_and_labels_are_shown_as_text(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    open_page: Callable[[str], Awaitable[OpenPage]],
) -> None:
    markup = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"><b>bold</b>'
    bundle = make_bundle(["sh", "-c", f"echo '{markup}'; echo '{markup}' >&2; sleep 100000"])
    await start_container(client, "html", bundle, labels={"note": markup})
    page = await open_page(f"{daemon.url}/#/containers/html")

    def as_text(page: Page) -> None:
        expect(page.locator("#log .line-data")).to_have_text([markup, markup])
        expect(page.locator('#c-overview dd[data-field="labels"] .chip')).to_have_text(
            [f"note={markup}"]
        )
        page.locator(".crumbs a").click()
        expect(row(page, "html").locator(".chip")).to_have_text([f"note={markup}"])
        # Nothing of it became an element, and nothing of it ran.
        assert page.locator("main script, main img, main b, aside script").count() == 0
        assert page.evaluate("window.pwned") is None

    await page.run(as_text)


async def test_a_long_ids_page_keeps_its_actions_on_screen(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    bundle: Path,
    open_page: Callable[[str], Awaitable[OpenPage]],
) -> None:
    """An id may have 128 characters. On its container's page the title held the actions'
    line and pushed Kill and Delete out of the view (clipped, not reachable by scrolling the
    window); they go to a line of their own now."""
    long_id = "a" * 60 + "-" + "b" * 67
    await start_container(client, long_id, bundle)
    page = await open_page(f"{daemon.url}/#/containers/{long_id}")

    def on_screen(page: Page) -> None:
        expect(page.locator("#c-title")).to_have_text(long_id)
        view = page.locator("#container-view").bounding_box()
        assert view is not None
        for label in ["Pause", "Checkpoint…", "Kill", "Delete"]:
            button = page.locator("#c-actions button", has_text=label)
            expect(button).to_be_visible()
            box = button.bounding_box()
            assert box is not None
            assert box["x"] + box["width"] <= view["x"] + view["width"], label

    await page.run(on_screen)


def within_window(page: Page, selector: str) -> None:
    """Every element `selector` finds is on screen, whole: inside the window's width, and its
    text not cut by its own box (a flex item squeezed below its text's width)."""
    width = page.evaluate("innerWidth")
    for element in page.locator(selector).all():
        expect(element).to_be_visible()
        box = element.bounding_box()
        assert box is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (selector, box)
        cut = element.evaluate("element => element.scrollWidth > element.clientWidth + 1")
        assert not cut, f"{selector}: its text is cut"


async def test_a_phone_sized_window_keeps_every_part_in_reach(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    bundle: Path,
    open_page: Callable[[str], Awaitable[OpenPage]],
) -> None:
    """On a phone (390 pixels) the status buttons shrank to nothing, the connection's state
    was past the right edge, the list's exit, figures and actions were cut off (at 800 pixels
    too), the log's stream buttons were squeezed, and the page was as wide as the list's row.
    Now the bars wrap, and the list scrolls sideways in its frame, header and rows as one."""
    await start_container(client, "pocket", bundle, labels={"team": "infra"})
    page = await open_page(daemon.url)

    def list_in_reach(page: Page) -> None:
        # A tablet's 800 pixels are narrower than the row too (the page was 880 wide), and so
        # is the list beside the feed in 1110 (its Delete was cut): a swipe, here the mouse's
        # sideways wheel, brings the row's end in.
        for width in (800, 1110, 390):
            page.set_viewport_size({"width": width, "height": 844})
            expect(row(page, "pocket").locator(".badge")).to_have_text("running")
            assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), width
            page.locator(".grid-head").hover()
            page.mouse.wheel(2000, 0)
            page.wait_for_function(  # to its end (a wheel's scroll is animated)
                "() => { const g = document.querySelector('.grid');"
                " return g.scrollLeft > 0 && g.scrollLeft + g.clientWidth >= g.scrollWidth - 1; }"
            )
            delete = row(page, "pocket").locator('button[data-action="delete"]')
            expect(delete).to_be_visible()
            box, frame = delete.bounding_box(), page.locator(".grid").bounding_box()
            assert box is not None and frame is not None
            assert box["x"] + box["width"] <= frame["x"] + frame["width"], width
            page.locator(".grid").evaluate("grid => { grid.scrollLeft = 0; }")
        expect(row(page, "pocket").locator(".badge")).to_have_text("running")
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
        within_window(page, "#status-filter button")
        within_window(page, "#connection")
        within_window(page, "#filter")
        status = row(page, "pocket").locator(".c-status")
        cut = status.evaluate("cell => cell.scrollWidth > cell.clientWidth")
        assert not cut, "the status is cut"
        # Swiped sideways, the list brings its last columns in view, the header with them.
        page.locator(".grid").evaluate("grid => { grid.scrollLeft = grid.scrollWidth; }")
        exit_head = page.locator(".grid-head .c-exit").bounding_box()
        exit_cell = row(page, "pocket").locator(".c-exit").bounding_box()
        assert exit_head is not None and exit_cell is not None
        assert abs(exit_head["x"] - exit_cell["x"]) < 1
        within_window(page, '.row[data-id="pocket"] .c-actions button')
        row(page, "pocket").locator('button[data-action="pause"]').click()
        expect(row(page, "pocket").locator(".badge")).to_have_text("paused")
        # An empty list's words are in the frame's width, not centred on the rows' (off screen).
        page.locator("#filter").fill("nothing-matches")
        within_window(page, "#rows-empty .empty-filtered")
        page.locator("#filter").fill("")

    await page.run(list_in_reach)
    assert page.changes == ["PATCH /containers/pocket"]

    def container_in_reach(page: Page) -> None:
        page.locator("#rows a", has_text="pocket").click()
        expect(page.locator("#c-title")).to_have_text("pocket")
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
        within_window(page, "#c-actions button")
        within_window(page, "#log-streams button")
        # The init's pid and role read on one line: they broke into four.
        pid = page.locator("#c-processes tr td:first-child > .mono").first
        expect(pid).to_contain_text("init")
        lines = pid.evaluate(
            "pid => new Set([...pid.getClientRects()].map((r) => Math.round(r.y))).size"
        )
        assert lines == 1, lines

    await page.run(container_in_reach)


#: The contrast of an element's text with the background it is drawn on (the nearest opaque
#: one among its ancestors), as WCAG 2 computes it from relative luminance.
CONTRAST = """element => {
  if (!element.isConnected) return null;  // drawn again meanwhile (the log's lines): ask again
  const rgb = (color) => color.match(/[\\d.]+/g).map(Number);
  const luminance = ([r, g, b]) => {
    const [R, G, B] = [r, g, b].map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * R + 0.7152 * G + 0.0722 * B;
  };
  let back = element;
  while (back && (rgb(getComputedStyle(back).backgroundColor)[3] ?? 1) === 0) {
    back = back.parentElement;
  }
  const background = back ? rgb(getComputedStyle(back).backgroundColor) : [255, 255, 255];
  const [a, b] = [luminance(rgb(getComputedStyle(element).color)), luminance(background)];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


async def test_small_text_is_readable(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    open_page: Callable[[str], Awaitable[OpenPage]],
) -> None:
    """The page's small text has a contrast of 4.5:1 with its background at least (WCAG 2's
    AA for text under 18 points). The grey of the feed's times, the log's status, the
    breadcrumb, the hints and the empty tables had 2.8-3.0:1, the log's times 4.0:1, and the
    blue of the restarting badge and the pressed status button 4.0-4.5:1."""
    await start_container(
        client,
        "looping",
        make_bundle(["sh", "-c", "echo started; exit 1"]),
        restartPolicy={"name": "always"},
    )
    await start_container(client, "chatty", make_bundle(COUNTER))
    page = await open_page(daemon.url)
    selectors = [
        "#event-feed .event time",
        '#status-filter button[aria-pressed="true"]',
        '#status-filter button[aria-pressed="true"] .count',
        "#rows .badge-restarting",
    ]

    def contrast_of(page: Page, selector: str) -> float:
        # The element found may be drawn again before the script runs on it (a log line
        # replaced as the log grows): its computed colors are then empty (once, in a fresh
        # clone's run, the script failed on them). Each evaluate finds the element anew.
        for _ in range(50):
            contrast: float | None = page.locator(selector).first.evaluate(CONTRAST)
            if contrast is not None:
                return contrast
        raise AssertionError(f"{selector} was drawn again on every look")

    def readable(page: Page) -> None:
        expect(page.locator("#rows .badge-restarting")).to_have_count(1)
        for selector in selectors:
            contrast = contrast_of(page, selector)
            assert contrast >= 4.5, (selector, contrast)
        page.locator("#rows a", has_text="chatty").click()
        expect(page.locator("#log .line").first).to_be_visible()
        expect(page.locator("#c-checkpoints .empty-row td")).to_be_visible()
        for selector in [
            ".crumbs",
            "#log-status",
            ".card h2 .hint",
            "#c-processes .muted",
            "#c-checkpoints .empty-row td",
            "#log .line-time",
        ]:
            contrast = contrast_of(page, selector)
            assert contrast >= 4.5, (selector, contrast)

    await page.run(readable)


async def test_an_action_from_the_keyboard_keeps_the_focus_on_the_actions(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    bundle: Path,
    open_page: Callable[[str], Awaitable[OpenPage]],
) -> None:
    """Enter on Pause leaves the focus on Resume, which took its place, and Enter again
    resumes; Kill's, once the container stops, on Delete; in the list and on a container's
    page. The buttons were redrawn for the new status and the focus fell to the document's
    body: Enter did nothing more, and a screen reader lost its place."""
    state_dir = daemon.config.state_dir
    await start_container(client, "keys", bundle)
    page = await open_page(daemon.url)

    def in_the_list(page: Page) -> None:
        actions = row(page, "keys").locator(".c-actions")
        actions.locator('button[data-action="pause"]').focus()
        page.keyboard.press("Enter")
        expect(row(page, "keys").locator(".badge")).to_have_text("paused")
        expect(actions.locator('button[data-action="resume"]')).to_be_focused()
        page.keyboard.press("Enter")
        expect(row(page, "keys").locator(".badge")).to_have_text("running")
        expect(actions.locator('button[data-action="pause"]')).to_be_focused()

    await page.run(in_the_list)
    assert page.changes == ["PATCH /containers/keys", "PATCH /containers/keys"]
    assert runc_state(state_dir, "keys")["status"] == "running"

    def on_its_page(page: Page) -> None:
        page.locator("#rows a", has_text="keys").click()
        actions = page.locator("#c-actions")
        actions.locator('button[data-action="pause"]').focus()
        page.keyboard.press("Enter")
        expect(page.locator("#c-status")).to_have_text("paused")
        expect(actions.locator('button[data-action="resume"]')).to_be_focused()
        actions.locator('button[data-action="kill"]').focus()
        page.keyboard.press("Enter")
        expect(page.locator("#confirm-cancel")).to_be_focused()
        page.keyboard.press("Tab")  # to Kill: the dialog's default is Cancel
        page.keyboard.press("Enter")
        expect(page.locator("#c-status")).to_have_text("stopped")
        expect(actions.locator('button[data-action="delete"]')).to_be_focused()

    await page.run(on_its_page)


async def test_a_container_started_again_shows_its_actions_on_its_page(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    bundle: Path,
    open_page: Callable[[str], Awaitable[OpenPage]],
) -> None:
    """A container started again under its id (`ctr-trio restart`, a stop then a start: a
    delete and a start-container) has its actions on its page, opened at its address after
    that. The page replays the last ten minutes of events over the state it reads: the delete
    took the container away, the start brought it back running, as it was shown, and its
    actions, cleared with it, were not drawn again: a running container with no buttons."""
    await start_container(client, "again", bundle)
    assert (await client.delete("/containers/again?timeout=1")).status_code == 200
    await start_container(client, "again", bundle)
    page = await open_page(f"{daemon.url}/#/containers/again")

    def actions(page: Page) -> None:
        expect(page.locator("#c-status")).to_have_text("running")
        expect(page.locator("#c-actions button")).to_have_text(
            ["Pause", "Checkpoint…", "Kill", "Delete"]
        )

    await page.run(actions)


async def test_a_policy_changed_elsewhere_shows_on_the_containers_page_live(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    bundle: Path,
    open_page: Callable[[str], Awaitable[OpenPage]],
) -> None:
    """A restart policy given (and taken away) from elsewhere (`ctr-trio update --restart`,
    a PATCH) shows on the container's page as it is given: the PATCH publishes `update`, on
    which the page reads the container again. Before, the page showed the policy it had read
    (`—` here) until a restart made it read the container again, and a container that never
    restarted (`on-failure` after an exit 0) kept it for good."""
    await start_container(client, "policy", bundle)
    page = await open_page(f"{daemon.url}/#/containers/policy")
    restarts = '#c-overview dd[data-field="restarts"]'
    await page.run(lambda page: expect(page.locator(restarts)).to_have_text("—"))
    body = {"restartPolicy": {"name": "on-failure", "maximumRetryCount": 5}}
    assert (await client.patch("/containers/policy", json=body)).status_code == 200
    await page.run(
        lambda page: expect(page.locator(restarts)).to_have_text("0 (on-failure, at most 5)")
    )
    body = {"restartPolicy": {"name": "no"}}
    assert (await client.patch("/containers/policy", json=body)).status_code == 200
    await page.run(lambda page: expect(page.locator(restarts)).to_have_text("—"))
    assert page.changes == []  # the page sent nothing: the events and its reads did it
    await client.delete("/containers/policy", params={"timeout": 0})


#: Records, every frame, what the list's rows and a container's page show: each row's id,
#: badge and labels, the page's status, bundle and labels (its body once shown), each once in
#: a row as it changes (window.shown).
_EVERY_FRAME = """
window.shown = [];
const look = () => {
  const rows = [...document.querySelectorAll("#rows .row:not([hidden])")].map((row) =>
    [row.dataset.id, row.querySelector(".badge").textContent,
     row.querySelector(".c-labels").textContent].join(" "));
  const body = document.getElementById("c-body");
  if (body && !body.hidden) {
    rows.push(["page", document.getElementById("c-status").textContent,
      ...["bundle", "labels"].map((name) =>
        document.querySelector(`#c-overview dd[data-field="${name}"]`).textContent)].join(" "));
  }
  const now = rows.join(" | ");
  if (window.shown.at(-1) !== now) window.shown.push(now);
  requestAnimationFrame(look);
};
requestAnimationFrame(look);
"""


async def test_the_replay_over_the_state_shows_no_past_state(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    bundle: Path,
    open_page: Callable[..., Awaitable[OpenPage]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A page replays the last ten minutes of events (``since``) over the state it reads, and
    events the state has already must not take a container back through its past, frame by
    frame: a container restarting by its policy (its start and exit replayed) showed running,
    then stopped, then restarting once read again; one started again under its id (its delete
    and start replayed) lost its labels and bundle, in the list and on its page, until read
    again. Each shows as the state has it in every frame, from the first."""
    monkeypatch.setattr("containerd_trio.restarts.RESTART_FIRST_DELAY", 60.0)
    await start_container(
        client,
        "looping",
        make_bundle(["sh", "-c", "exit 2"]),
        restartPolicy={"name": "always"},
        labels={"tier": "batch"},
    )
    with trio.fail_after(10):
        assert (await client.post("/containers/looping/wait")).json()["exitStatus"] == 2
    assert (await client.get("/containers/looping")).json()["state"]["restarting"] is True
    await start_container(client, "again", bundle, labels={"team": "infra"})
    assert (await client.post("/containers/again/stop", params={"timeout": 1})).status_code < 300
    await start_container(client, "again", bundle, labels={"team": "infra"})

    listed = await open_page(daemon.url, _EVERY_FRAME)
    alone = await open_page(f"{daemon.url}/#/containers/again", _EVERY_FRAME)

    def settled(page: Page) -> list[str]:
        feed = page.locator("#event-feed .event")
        # The whole replay is in: both starts of "again", the exit of "looping".
        expect(
            feed.and_(page.locator('[data-type="start-container"][data-id="again"]'))
        ).to_have_count(2)
        expect(feed.and_(page.locator('[data-type="exit"][data-id="looping"]'))).to_have_count(1)
        shown: list[str] = page.evaluate("window.shown")
        return shown

    shown = await listed.run(settled)
    rows = {part for frame in shown for part in frame.split(" | ") if part}
    assert rows == {"again running team=infra", "looping restarting tier=batch"}, shown
    shown = await alone.run(settled)
    pages = {part for frame in shown for part in frame.split(" | ") if part}
    assert pages == {f"page running {bundle} team=infra"}, shown


async def test_destructive_actions_ask_first(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    bundle: Path,
    open_page: Callable[[str], Awaitable[OpenPage]],
) -> None:
    state_dir = daemon.config.state_dir
    await start_container(client, "victim", bundle)
    page = await open_page(daemon.url)

    def kill_then_cancel(page: Page) -> None:
        row(page, "victim").locator('button[data-action="kill"]').click()
        dialog = page.locator("dialog#confirm")
        expect(dialog).to_be_visible()
        expect(dialog.locator("#confirm-title")).to_have_text("Kill victim?")
        dialog.locator("#confirm-cancel").click()
        expect(dialog).to_be_hidden()

    await page.run(kill_then_cancel)
    assert page.changes == []  # nothing was sent
    assert runc_state(state_dir, "victim")["status"] == "running"

    def kill(page: Page) -> None:
        row(page, "victim").locator('button[data-action="kill"]').click()
        page.locator("#confirm-ok").click()
        expect(row(page, "victim").locator(".badge")).to_have_text("stopped")
        expect(row(page, "victim").locator(".c-exit")).to_have_text("137 (SIGKILL)")

    await page.run(kill)
    assert page.changes == ["PATCH /containers/victim"]

    def delete(page: Page) -> None:
        row(page, "victim").locator('button[data-action="delete"]').click()
        expect(page.locator("#confirm-title")).to_have_text("Delete victim?")
        page.locator("#confirm-ok").click()
        expect(row(page, "victim")).to_have_count(0)
        expect(
            page.locator('#event-feed .event[data-type="delete"][data-id="victim"]')
        ).to_have_count(1)

    await page.run(delete)
    assert page.changes[-1] == "DELETE /containers/victim"
    assert (await client.get("/containers/victim")).status_code == 404
    assert "victim" not in runc_ids(state_dir)


@pytest.mark.deadline(90)
async def test_a_delete_waiting_out_its_grace_shows_the_container_stopping(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    open_page: Callable[[str], Awaitable[OpenPage]],
) -> None:
    """The page's Delete of a live container asks for a 10 s grace (SIGTERM, then SIGKILL):
    sleep as pid 1 ignores SIGTERM and waits it out. Meanwhile the container shows stopping,
    in the list and on its page, with the seconds left before the SIGKILL in place of its
    actions; then it is gone. Until 2026-12-06 the page showed it running, its Delete greyed,
    for those 10 s."""
    for container_id in ("stubborn", "obstinate"):
        await start_container(client, container_id, make_bundle(FOREVER))
    listed = await open_page(daemon.url)
    alone = await open_page(f"{daemon.url}/#/containers/obstinate")
    grace = re.compile(r"^SIGKILL in ([1-9]|10) s$")

    def delete_from_the_list(page: Page) -> None:
        row(page, "stubborn").locator('button[data-action="delete"]').click()
        page.locator("#confirm-ok").click()
        badge = row(page, "stubborn").locator(".badge")
        expect(badge).to_have_text("stopping")
        expect(badge).to_have_class("badge badge-stopping")
        note = row(page, "stubborn").locator(".c-actions .stop-note")
        expect(note).to_have_text(grace)
        for element in (badge, note):
            contrast = element.evaluate(CONTRAST)  # None: drawn again meanwhile
            assert contrast is not None and contrast >= 4.5, contrast

    def delete_from_its_page(page: Page) -> None:
        page.locator('#c-actions button[data-action="delete"]').click()
        page.locator("#confirm-ok").click()
        expect(page.locator("#c-status")).to_have_text("stopping")
        expect(page.locator("#c-actions .stop-note")).to_have_text(grace)
        expect(page.locator("#c-actions button")).to_have_count(0)

    await listed.run(delete_from_the_list)
    await alone.run(delete_from_its_page)

    def gone(page: Page, container_id: str) -> None:
        # Once the grace has passed (10 s) and the delete has answered.
        expect(row(page, container_id)).to_have_count(0, timeout=WAIT_MS + 10_000)
        expect(page.locator("#toasts")).to_contain_text(f"{container_id} deleted")

    await listed.run(lambda page: gone(page, "stubborn"))
    await alone.run(lambda page: gone(page, "obstinate"))
    assert (await client.get("/state")).json()["containers"] == []


@pytest.mark.deadline(90)
async def test_checkpoint_restore_kill_and_delete_on_a_containers_page(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    open_page: Callable[[str], Awaitable[OpenPage]],
) -> None:
    state_dir = daemon.config.state_dir
    bundle = make_bundle(["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i; sleep 0.2; done"])
    await start_container(client, "saved", bundle)
    page = await open_page(f"{daemon.url}/#/containers/saved")

    def checkpoint(page: Page) -> None:
        expect(page.locator("#c-status")).to_have_text("running")
        page.locator('#c-actions button[data-action="checkpoint"]').click()
        form = page.locator("dialog#checkpoint")
        expect(form).to_be_visible()
        form.locator("#checkpoint-name").fill("first")
        form.locator("#checkpoint-exit").check()
        form.locator('button[value="ok"]').click()
        # Stopping the container destroys its running state: asked once more.
        expect(page.locator("#confirm-title")).to_have_text("Checkpoint and stop saved?")
        page.locator("#confirm-ok").click()
        expect(page.locator("#c-checkpoints .mono")).to_have_text(["first"])
        expect(page.locator("#c-status")).to_have_text("stopped")

    await page.run(checkpoint)
    last_before = await page.run(lambda page: page.locator("#log .line-data").last.inner_text())
    listed = (await client.get("/containers/saved/checkpoint")).json()
    assert [c["name"] for c in listed] == ["first"]
    assert "saved" not in runc_ids(state_dir)  # CRIU stopped it

    def restore(page: Page) -> None:
        page.locator('#c-checkpoints button[data-checkpoint="first"]').click()
        # A restore over the stopped container keeps its log (logs.md): the question says so.
        # It said the log was removed, which a person could take as a reason not to restore.
        expect(page.locator("#confirm-message")).to_have_text(
            "The stopped container is replaced by one restored from the checkpoint, which"
            " writes on into its log."
        )
        page.locator("#confirm-ok").click()
        expect(page.locator("#c-status")).to_have_text("running")
        # The log from before the checkpoint is still there, and the restored run writes on.
        expect(page.locator("#log .line-data").first).to_have_text("1")
        expect(page.locator("#log .line-data").last).not_to_have_text(last_before)

    await page.run(restore)
    assert runc_state(state_dir, "saved")["status"] == "running"

    def kill_and_delete(page: Page) -> None:
        page.locator('#c-actions button[data-action="kill"]').click()
        page.locator("#confirm-ok").click()
        expect(page.locator("#c-status")).to_have_text("stopped")
        expect(page.locator('#c-overview dd[data-field="exit"]')).to_have_text("137 (SIGKILL)")
        page.locator('#c-actions button[data-action="delete"]').click()
        page.locator("#confirm-ok").click()
        expect(page.locator("#list-view")).to_be_visible()  # back to the list, where it is gone
        expect(row(page, "saved")).to_have_count(0)

    await page.run(kill_and_delete)
    assert page.changes == [
        "POST /containers/saved/checkpoint/first",
        "POST /containers/saved",
        "PATCH /containers/saved",
        "DELETE /containers/saved",
    ]
    assert "saved" not in runc_ids(state_dir)


def expect_order(page: Page, ids: list[str]) -> None:
    """Until the list's rows read ``ids`` from the top down (rows are placed, not ordered, in
    the document: each carries its place as aria-rowindex, the header row's being 1)."""
    for place, container_id in enumerate(ids, start=2):
        expect(
            page.locator(f'#rows .row:not([hidden])[aria-rowindex="{place}"]')
        ).to_have_attribute("data-id", container_id)


async def test_sorting_by_uptime_follows_each_runs_start_live(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    open_page: Callable[[str], Awaitable[OpenPage]],
) -> None:
    """The Uptime column sorts by the uptime it shows, the run's (shortest first, as docker ps
    lists the newest first), stopped containers, which have none, last; and a restart by its
    policy, which starts the uptime again, moves the row, live. It sorted by createdAt, which
    a restart keeps, and only at the click: a restarted container stayed below older runs, and
    a stopped one sat among the running ones."""
    info = await start_container(
        client, "flaky", make_bundle(UNTIL_USR1), restartPolicy={"name": "always"}
    )
    pid = info["processes"][0]["pid"]
    await wait_catching(pid, signal.SIGUSR1)
    await start_container(client, "steady", make_bundle(FOREVER))
    await start_container(client, "ended", make_bundle(FOREVER))
    assert (await client.patch("/containers/ended", json={"signal": 9})).status_code == 200
    page = await open_page(daemon.url)

    def sorted_by_uptime(page: Page) -> None:
        expect(row(page, "ended").locator(".badge")).to_have_text("stopped")
        uptime = page.locator('.grid-head [role="columnheader"]', has_text="Uptime")
        uptime.click()
        expect(uptime).to_have_attribute("aria-sort", "ascending")
        expect_order(page, ["steady", "flaky", "ended"])

    await page.run(sorted_by_uptime)

    os.kill(pid, signal.SIGUSR1)  # its init exits 3; its policy starts it again at once
    await page.run(lambda page: expect_order(page, ["flaky", "steady", "ended"]))
    restarted = (await client.get("/containers/flaky")).json()
    assert restarted["restartCount"] == 1 and restarted["createdAt"] == info["createdAt"]


async def test_the_list_sorts_from_the_keyboard(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    open_page: Callable[[str], Awaitable[OpenPage]],
) -> None:
    """The column titles that sort (container, status, uptime) are in the tab order, after the
    filter, and Enter or Space sorts by them. They were titles a mouse alone could click: Tab
    went from the filter to the first container, and the list could not be sorted without a
    mouse."""
    await start_container(client, "zeta", make_bundle(FOREVER))
    await start_container(client, "alpha", make_bundle(FOREVER))
    assert (await client.patch("/containers/alpha", json={"status": "paused"})).status_code == 200
    page = await open_page(daemon.url)

    def by_keyboard(page: Page) -> None:
        expect(row(page, "alpha").locator(".badge")).to_have_text("paused")
        expect_order(page, ["alpha", "zeta"])
        page.locator("#filter").focus()
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        status = page.locator('.grid-head [data-sort="status"]')
        expect(status).to_be_focused()
        page.keyboard.press("Enter")
        expect(status).to_have_attribute("aria-sort", "ascending")
        expect_order(page, ["zeta", "alpha"])  # running before paused
        page.keyboard.press("Shift+Tab")
        container = page.locator('.grid-head [data-sort="id"]')
        expect(container).to_be_focused()
        page.keyboard.press(" ")
        expect(container).to_have_attribute("aria-sort", "ascending")
        expect(status).to_have_attribute("aria-sort", "none")
        expect_order(page, ["alpha", "zeta"])

    await page.run(by_keyboard)


# --- a broken connection ----------------------------------------------------------------------


@pytest.mark.deadline(90)
async def test_the_page_reconnects_and_resumes_the_event_stream(
    tmp_path: Path,
    start_daemon: Callable[..., Awaitable[RunningDaemon]],
    make_bundle: BundleFactory,
    open_page: Callable[[str], Awaitable[OpenPage]],
) -> None:
    """The daemon goes away and comes back on the same address: the page carries on."""
    state_dir = tmp_path / "state"
    first = await start_daemon(state_dir)
    port = httpx.URL(first.url).port
    await start_container(first.client, "before", make_bundle(FOREVER))
    page = await open_page(first.url)
    await page.run(
        lambda page: expect(row(page, "before").locator(".badge")).to_have_text("running")
    )

    await first.stop()  # its containers are stopped and deleted with it

    def disconnected(page: Page) -> None:
        expect(page.locator("#connection")).not_to_have_attribute("data-state", "live")

    await page.run(disconnected)

    second = await start_daemon(state_dir, listen=Listen(host="127.0.0.1", port=port))
    await start_container(second.client, "after", make_bundle(FOREVER))

    def resumed(page: Page) -> None:
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")
        expect(row(page, "after").locator(".badge")).to_have_text("running")
        expect(row(page, "before")).to_have_count(0)
        # Resumed with since=<last timestamp seen>: each event once, none twice.
        feed = page.locator("#event-feed .event")
        expect(feed.and_(page.locator('[data-id="after"]'))).to_have_count(1)
        kinds = feed.evaluate_all("items => items.map(i => i.dataset.type + ' ' + i.dataset.id)")
        assert kinds == [
            "start-container after",
            "delete before",
            "exit before",
            "daemon-stopping ",  # the daemon's own, of no container, as its stop began
            "start-container before",
        ]

    await page.run(resumed)


@pytest.mark.deadline(90)
async def test_the_page_says_the_daemon_stops_then_is_stopped_then_live_again(
    tmp_path: Path,
    start_daemon: Callable[..., Awaitable[RunningDaemon]],
    make_bundle: BundleFactory,
    open_page: Callable[[str], Awaitable[OpenPage]],
) -> None:
    """A daemon's stop (docs/reliability.md, "A graceful stop") is said as it begins: the
    daemon's daemon-stopping on the stream, while its container waits out its grace (sleep,
    pid 1, ignores SIGTERM: 5 s here); stopped once the stream has ended and the address
    refuses; live again when a new daemon serves there. The page said `live` through the stop,
    its containers vanishing under it, then `disconnected`."""
    state_dir = tmp_path / "state"
    first = await start_daemon(state_dir, shutdown_timeout=5.0)
    port = httpx.URL(first.url).port
    await start_container(first.client, "stubborn", make_bundle(FOREVER))
    page = await open_page(first.url)
    await page.run(
        lambda page: expect(row(page, "stubborn").locator(".badge")).to_have_text("running")
    )

    first.daemon.request_stop()

    def stopping(page: Page) -> None:
        expect(page.locator("#connection")).to_have_attribute("data-state", "stopping")
        expect(page.locator("#connection-text")).to_have_text("daemon stopping")
        # The feed says it too, as the daemon's, not a container's.
        notice = page.locator('#event-feed .event[data-type="daemon-stopping"]')
        expect(notice.locator(".event-id")).to_have_text("daemon")

    await page.run(stopping)
    await first.finished.wait()

    def stopped(page: Page) -> None:
        expect(page.locator("#connection")).to_have_attribute("data-state", "stopped")
        stopped = re.compile(r"^daemon stopped(, retrying in \d+ s)?$")
        expect(page.locator("#connection-text")).to_have_text(stopped)
        expect(row(page, "stubborn")).to_have_count(0)

    await page.run(stopped)

    second = await start_daemon(state_dir, listen=Listen(host="127.0.0.1", port=port))
    await start_container(second.client, "after", make_bundle(FOREVER))

    def live(page: Page) -> None:
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")
        expect(page.locator("#connection-text")).to_have_text("live")
        expect(row(page, "after").locator(".badge")).to_have_text("running")

    await page.run(live)
    # Not kept: the new daemon's replay does not have it (the page would say it stops).
    kept = (await second.client.get("/events", params={"since": "1h", "until": "0s"})).text
    assert "daemon-stopping" not in kept


@pytest.mark.parametrize(
    ("refusal", "stopping"),
    [
        ("the daemon is handing over to a new server: retry in a moment", False),
        ("the daemon is shutting down", True),
    ],
    ids=["reload", "stop"],
)
async def test_only_a_stopping_daemon_s_503_says_it_stops(
    daemon: RunningDaemon,
    open_page: Callable[[str], Awaitable[OpenPage]],
    refusal: str,
    stopping: bool,
) -> None:
    """A reload's hand-over answers new requests 503 too, with its own words: the page said
    ``daemon stopping`` on any 503 to its stream, for a daemon that served on a moment later.
    Here a page opened meanwhile has each ask for its stream answered the daemon's 503 (its
    words, its Retry-After): ``stopping`` for a stop's, ``offline`` for a hand-over's."""
    page = await open_page(daemon.url)
    refused: list[str] = []

    def answer(route: Route) -> None:
        refused.append(route.request.url)
        route.fulfill(
            status=503,
            headers={"Retry-After": "1", "Connection": "close"},
            content_type="application/json",
            body=json.dumps({"error": refusal}),
        )

    def cut(page: Page) -> None:
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")
        fresh = page.context.new_page()  # a page whose stream is refused from the start
        fresh.route(re.compile(r".*/events\?.*"), answer)
        fresh.goto(daemon.url)
        # Two refusals: the first one's answer has been taken (the second follows its delay).
        deadline = time.monotonic() + WAIT_MS / 1000
        while len(refused) < 2 and time.monotonic() < deadline:
            fresh.wait_for_timeout(50)  # lets Playwright take the route's request meanwhile
        assert len(refused) >= 2, "the page did not ask for the stream again"
        state = "stopping" if stopping else "offline"
        expect(fresh.locator("#connection")).to_have_attribute("data-state", state)
        if not stopping:
            expect(fresh.locator("#connection-text")).not_to_have_text("daemon stopping")

    await page.run(cut)


#: Every 30 s deadline the page sets (``AbortSignal.timeout(30_000)``: GET /state's and each
#: request's) fires after 3 s.
_DEADLINES_FASTER = """
const timeout = AbortSignal.timeout.bind(AbortSignal);
AbortSignal.timeout = (ms) => timeout(ms === 30000 ? 3000 : ms);
"""


@pytest.mark.deadline(120)
async def test_a_snapshot_that_never_answers_is_given_up_and_read_again(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    chromium: Chromium,
) -> None:
    """GET /state has a deadline, as every request of the page has (docs/page.md, "Slow
    connections"): past it the page says so and reads the state again, and the events held
    behind the snapshot meanwhile are applied. It had none: a snapshot whose answer never came
    held every event for good, the page saying `live` with an empty list."""
    await start_container(client, "early", make_bundle(FOREVER))

    def load(url: str) -> tuple[Page, PageErrors]:
        page = chromium.new_context().new_page()
        errors = PageErrors(page)
        # The first snapshot's request is held, never answered: a connection that stalls.
        held: list[Route] = []

        def snapshot(route: Route) -> None:
            if held:
                route.continue_()
            else:
                held.append(route)

        page.route(re.compile(r".*/state$"), snapshot)
        # The page's 30 s deadlines run 10 times as fast, as a fake clock would (Playwright's
        # does not reach AbortSignal.timeout): the same abort, the same words, 27 s less.
        page.add_init_script(_DEADLINES_FASTER)
        page.goto(url)
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")
        assert held, "the page read no snapshot"
        return page, errors

    page, errors = await chromium.run(load, daemon.url)
    # Its start-container comes while the snapshot is held.
    await start_container(client, "meanwhile", make_bundle(FOREVER))

    def read_again(page: Page) -> None:
        # The deadline (3 s here), then the retry's delay: waited for as what the page shows.
        timeout = WAIT_MS + 35_000
        expect(page.locator("#toasts")).to_contain_text(
            "cannot read the daemon's state: no answer from the daemon within 30 s",
            timeout=timeout,
        )
        expect(page.locator("#machine-cpus")).not_to_have_text("…", timeout=timeout)
        for container_id in ("early", "meanwhile"):
            expect(row(page, container_id).locator(".badge")).to_have_text(
                "running", timeout=timeout
            )
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")

    try:
        await chromium.run(read_again, page)
    finally:
        await chromium.run(lambda page: page.context.close(), page)
    assert errors.messages == [], "the page had errors"


async def test_a_refused_snapshot_is_told_in_the_daemons_words(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    chromium: Chromium,
) -> None:
    """A GET /state the daemon refuses is told with the daemon's own sentence, as every other
    refusal is: the page said `GET /state answered 503` for the 503 of a daemon shutting down
    (docs/reliability.md), which says why."""
    await start_container(client, "kept", make_bundle(FOREVER))

    def load(url: str) -> tuple[Page, PageErrors]:
        page = chromium.new_context().new_page()
        errors = PageErrors(page)
        refused: list[Route] = []

        # The first snapshot gets the answer of a daemon shutting down; the next, the daemon's.
        def snapshot(route: Route) -> None:
            if refused:
                route.continue_()
                return
            refused.append(route)
            route.fulfill(
                status=503,
                headers={"Retry-After": "1"},
                content_type="application/json",
                body=json.dumps({"error": "the daemon is shutting down"}),
            )

        page.route(re.compile(r".*/state$"), snapshot)
        page.goto(url)
        return page, errors

    page, errors = await chromium.run(load, daemon.url)

    def told(page: Page) -> None:
        expect(page.locator("#toasts")).to_contain_text(
            "cannot read the daemon's state: the daemon is shutting down"
        )
        # ... and read again, after the reconnection's delay.
        expect(row(page, "kept").locator(".badge")).to_have_text("running")
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")

    try:
        await chromium.run(told, page)
    finally:
        await chromium.run(lambda page: page.context.close(), page)
    assert errors.messages == [], "the page had errors"


# --- the same access rules as the API ---------------------------------------------------------


_OLD_SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
    " Version/16.3 Safari/605.1.15"
)


async def test_browsers_may_not_send_requests_for_other_sites(
    daemon: RunningDaemon, client: httpx.AsyncClient, bundle: Path
) -> None:
    """A web page elsewhere cannot make a browser on this machine drive the API (CSRF), nor
    read it under a name pointed at 127.0.0.1 (DNS rebinding). Other clients are unaffected."""
    port = httpx.URL(daemon.url).port
    own_origin = f"http://127.0.0.1:{port}"
    body = json.dumps({"bundlePath": str(bundle)})
    refused: list[tuple[str, str, dict[str, str]]] = [
        # A form, or fetch(..., {mode: "no-cors"}) with a text body, on another site.
        (
            "POST",
            "/containers/csrf",
            {
                "Origin": "http://evil.example",
                "Sec-Fetch-Site": "cross-site",
                "Content-Type": "text/plain",
            },
        ),
        ("POST", "/containers/csrf", {"Origin": "null"}),  # a sandboxed frame, a file: page
        ("GET", "/state", {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}),
        ("GET", "/state", {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "no-cors"}),
        # Same-origin to the browser, under a name that anyone's DNS can point here.
        ("GET", "/state", {"Host": f"evil.example:{port}", "Sec-Fetch-Site": "same-origin"}),
        (
            "POST",
            "/containers/csrf",
            {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"},
        ),
        # The same from a browser too old to send Sec-Fetch-Site on a same-origin GET (Safari
        # before 16.4): known by its User-Agent. Was a 200: the page read the API. Both a
        # route of the app and one of the fast path.
        ("GET", "/state", {"Host": f"evil.example:{port}", "User-Agent": _OLD_SAFARI}),
        ("GET", "/containers/csrf", {"Host": f"evil.example:{port}", "User-Agent": _OLD_SAFARI}),
    ]
    for method, path, headers in refused:
        response = await client.request(method, path, content=body, headers=headers)
        assert response.status_code == 403, (method, path, headers, response.text)
        assert response.json()["error"].startswith("refused: "), response.text
    assert (await client.get("/containers/csrf")).status_code == 404
    assert runc_ids(daemon.config.state_dir) == []

    allowed: list[tuple[str, str, dict[str, str], int]] = [
        # The page's own requests, and the page opened from a link on another site.
        ("GET", "/state", {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}, 200),
        ("GET", "/state", {"Host": f"localhost:{port}", "Sec-Fetch-Site": "same-origin"}, 200),
        (
            "GET",
            "/",
            {"Accept": "text/html", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"},
            200,
        ),
        ("POST", "/containers/mine", {"Origin": own_origin, "Sec-Fetch-Site": "same-origin"}, 201),
        # The old browser by the daemon's address.
        ("GET", "/state", {"User-Agent": _OLD_SAFARI}, 200),
        # Not a browser: curl, ctr-trio, httpx send none of those headers.
        ("GET", "/state", {"Host": "daemon"}, 200),
        ("GET", "/state", {"Host": "daemon", "User-Agent": "curl/8.14.1"}, 200),
    ]
    for method, path, headers, status in allowed:
        content = body if method == "POST" else None
        response = await client.request(method, path, content=content, headers=headers)
        assert response.status_code == status, (method, path, headers, response.text)
