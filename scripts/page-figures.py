#!/usr/bin/env python3
"""Screenshots and figures of the status page, from a real daemon and headless Chromium.

    flock /tmp/containerd-trio-test.lock .venv/bin/python scripts/page-figures.py --screenshots docs
    flock /tmp/containerd-trio-test.lock .venv/bin/python scripts/page-figures.py --containers 1000

Starts ``python -m containerd_trio`` on a free loopback port with a state dir of its own, starts
busybox containers through the API, opens the page in Chromium (Debian's, driven by
Playwright, as tests/test_page.py does) and then:

- ``--screenshots DIR``: a small, lifelike set of containers (running, paused, exited with and
  without an error, one restarting: its init fails at once and its restart policy waits out
  its delay), a screenshot of the list (``DIR/page.png``) and of one container with a restart
  policy (``DIR/page-container.png``);
- ``--containers N``: N containers, and what the page takes to show them and to keep up
  (the page's own User Timing figures, read from ``window.containerdTrio.timings``).

Everything it started is deleted at the end. Run it under the test lock: it starts runc.
``--port N`` has the daemon listen there (default: a free port).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect, sync_playwright

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from containerd_trio.busybox import make_busybox_bundle  # noqa: E402
from tests.browser import WAIT_MS, launch  # noqa: E402

VIEWPORT = {"width": 1440, "height": 900}
expect.set_options(timeout=60_000)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running_daemon(state_dir: Path, port: int) -> Iterator[str]:
    log = open(state_dir.parent / "daemon.log", "wb")  # noqa: SIM115 (closed below)
    argv = [sys.executable, "-m", "containerd_trio", "--listen", f"127.0.0.1:{port}"]
    argv += ["--state-dir", str(state_dir), "--shutdown-timeout", "1", "--log-level", "warning"]
    daemon = subprocess.Popen(argv, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/state", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or daemon.poll() is not None:
                    raise RuntimeError("the daemon did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        daemon.terminate()  # it stops and deletes its containers on the way out
        daemon.wait(timeout=120)
        log.close()


def in_parallel(function: Callable[[str], Any], ids: list[str], workers: int = 8) -> None:
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(function, ids):
            pass


def open_page(browser: Any, url: str) -> Page:
    page: Page = browser.new_context(viewport=VIEWPORT).new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    return page


# --- screenshots ------------------------------------------------------------------------------

# (id, labels, command, then what to do to it)
SCENE: list[tuple[str, dict[str, str], str, str]] = [
    (
        # Its init fails at once, and its restart policy (POLICIES) starts it again after
        # docker's delays: started last, right before the list is shot, so that its restarts
        # (two events each) leave the others' events in view in the feed.
        "mailer",
        {"app": "billing", "role": "mail"},
        'echo "connecting to smtp.internal:587";'
        ' echo "error: dial tcp 10.0.4.2:587: connection refused" >&2; exit 1',
        "last",
    ),
    (
        "web-frontend",
        {"app": "shop", "tier": "front"},
        "i=0; while true; do i=$((i+1));"
        ' echo "GET /products/$((i % 40)) 200 $((i * 37 % 9000 + 300))b";'
        ' if [ $((i % 7)) = 0 ]; then echo "slow upstream: /api/cart took $((i % 5 + 1))s" >&2; fi;'
        " sleep 0.4; done",
        "",
    ),
    (
        "api-server",
        {"app": "shop", "tier": "back"},
        'i=0; while true; do i=$((i+1)); echo "POST /v1/orders 201 id=$i"; sleep 0.7; done',
        "",
    ),
    (
        "redis",
        {"app": "shop", "tier": "cache"},
        "while true; do date; sleep 1; done",
        "",
    ),
    (
        "worker-1",
        {"app": "billing", "queue": "invoices"},
        "while true; do seq 1 40000 > /dev/null; sleep 0.3; done",
        "",
    ),
    (
        "worker-2",
        {"app": "billing", "queue": "invoices"},
        "while true; do sleep 1; done",
        "pause",
    ),
    (
        "nightly-report",
        {"app": "billing", "schedule": "daily"},
        'echo "report: 1284 invoices, 3 overdue"; exit 0',
        "wait",
    ),
    (
        "db-migrate",
        {"app": "shop", "job": "migration"},
        'echo "applying 0042_add_index"; echo "error: relation \\"orders\\" is locked" >&2; exit 1',
        "wait",
    ),
]


#: Restart policies of the scene's containers (the container's page shows its "Restarts").
POLICIES = {"mailer": {"name": "always"}, "web-frontend": {"name": "unless-stopped"}}
#: The restarts the restarting one has made when the list is shot: its next delay is then
#: 0.8 s (docker's backoff: 100 ms, doubled at each restart), time enough for the shot.
RESTARTS_SHOWN = 3


def restarting(client: httpx.Client, container_id: str) -> int | None:
    """The restart count of a container waiting out its restart delay, else None."""
    info = client.get(f"/containers/{container_id}").json()
    return info["restartCount"] if info.get("state", {}).get("restarting") else None


def shoot_restarting(page: Page, client: httpx.Client, container_id: str, path: Path) -> None:
    """Screenshot ``page`` while ``container_id`` waits out its restart delay (after
    RESTARTS_SHOWN restarts or more), the same wait before and after the shot: one that
    crossed a restart is taken again, in the next (longer) delay."""
    badge = page.locator(f'#rows .row:not([hidden])[data-id="{container_id}"] .badge')
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        count = restarting(client, container_id)
        if count is not None and count >= RESTARTS_SHOWN:
            expect(badge).to_have_text("restarting")
            page.screenshot(path=str(path))
            if restarting(client, container_id) == count:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{container_id} was not seen restarting after {RESTARTS_SHOWN} restarts")


def start_scene(client: httpx.Client, bundles: Path, *, last: bool) -> None:
    """Start the scene's containers (``last``: those it starts last)."""
    for container_id, labels, command, then in SCENE:
        if (then == "last") != last:
            continue
        memory = 64 * 1024 * 1024 if container_id == "redis" else None
        bundle = make_busybox_bundle(
            bundles / container_id, ["sh", "-c", command], memory_limit=memory
        )
        body: dict[str, Any] = {"bundlePath": str(bundle), "labels": labels}
        if container_id in POLICIES:
            body["restartPolicy"] = POLICIES[container_id]
        client.post(f"/containers/{container_id}", json=body).raise_for_status()


def screenshots(url: str, bundles: Path, browser: Any, out: Path) -> None:
    client = httpx.Client(base_url=url, timeout=60)
    start_scene(client, bundles, last=False)
    for container_id, _, _, then in SCENE:
        if then == "pause":
            client.patch(f"/containers/{container_id}", json={"status": "paused"})
    page = open_page(browser, url)
    for container_id, _, _, then in SCENE:
        if then == "wait":
            row = page.locator(f'#rows .row:not([hidden])[data-id="{container_id}"] .badge')
            expect(row).to_have_text("stopped")
    # Two rounds of figures, so CPU shows (it is the difference between two samples).
    expect(page.locator('#rows .row[data-id="worker-1"] .c-cpu')).to_have_text(re.compile(r"^\d"))
    page.wait_for_timeout(6500)
    start_scene(client, bundles, last=True)
    shoot_restarting(page, client, "mailer", out / "page.png")
    page.locator('#rows .row[data-id="web-frontend"] .c-id a').click()
    expect(page.locator("#log .line.stderr").first).to_be_visible()
    expect(page.locator('#c-overview dd[data-field="restarts"]')).to_have_text("0 (unless-stopped)")
    page.wait_for_timeout(4500)  # some lines, and two samples of its figures
    page.screenshot(path=str(out / "page-container.png"))
    print(f"wrote {out / 'page.png'} and {out / 'page-container.png'}")


# --- figures for many containers --------------------------------------------------------------

AFTER_PAINT = """async (work) => {
  const started = performance.now();
  (new Function(work))();
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  return performance.now() - started;
}"""


def many(url: str, bundles: Path, browser: Any, count: int) -> dict[str, Any]:
    client = httpx.Client(base_url=url, timeout=120)
    bundle = make_busybox_bundle(bundles / "sleeper", ["sleep", "1000000"])
    ids = [f"c{n:04d}" for n in range(count)]
    began = time.monotonic()

    def start(container_id: str) -> None:
        body = {"bundlePath": str(bundle), "labels": {"shard": container_id[-1]}}
        client.post(f"/containers/{container_id}", json=body).raise_for_status()

    in_parallel(start, ids)
    figures: dict[str, Any] = {"containers": count, "start_s": time.monotonic() - began}
    state_bytes = len(client.get("/state").content)
    figures["state_kib"] = state_bytes / 1024

    loads = []
    for _ in range(3):
        page = open_page(browser, url)
        expect(page.locator('[data-count="all"]')).to_have_text(str(count))
        page.wait_for_function("window.containerdTrio.timings.stateToList !== null")
        loads.append(page.evaluate("window.containerdTrio.timings.stateToList"))
        if len(loads) < 3:
            page.context.close()
    figures["state_fetch_ms"] = [round(load["fetchMs"]) for load in loads]
    figures["state_to_list_ms"] = [round(load["ms"]) for load in loads]
    figures["dom_elements"] = page.evaluate("document.getElementsByTagName('*').length")
    figures["rows_in_document"] = page.locator("#rows .row:not([hidden])").count()

    # Scrolling: a jump to anywhere, to the next paint.
    jumps = [
        page.evaluate(
            AFTER_PAINT,
            f"const b = document.getElementById('rows'); b.scrollTop = b.scrollHeight * {f};",
        )
        for f in (0.5, 0.9, 0.1, 0.7, 0.3, 1.0, 0.0)
    ]
    figures["scroll_ms"] = (statistics.median(jumps), max(jumps))
    # Typing in the filter: the whole list filtered and sorted again, to the next paint.
    filters = [
        page.evaluate(
            AFTER_PAINT,
            "const f = document.getElementById('filter');"
            f" f.value = {text!r}; f.dispatchEvent(new Event('input'));",
        )
        for text in ("c05", "shard=3", "c0", "")
    ]
    figures["filter_ms"] = (statistics.median(filters), max(filters))

    # Events: pause and resume containers in view, each seen through the stream.
    page.evaluate("window.containerdTrio.timings.eventApply = {count: 0, totalMs: 0, maxMs: 0}")
    round_trips = []
    for container_id in ids[:10]:
        badge = page.locator(f'#rows .row:not([hidden])[data-id="{container_id}"] .badge')
        for status, shown in (("paused", "paused"), ("running", "running")):
            sent = time.monotonic()
            # Through the API, not the page: the page learns it from the event alone.
            client.patch(f"/containers/{container_id}", json={"status": status})
            expect(badge).to_have_text(shown)
            round_trips.append((time.monotonic() - sent) * 1000)
    applied = page.evaluate("window.containerdTrio.timings.eventApply")
    figures["event_apply_ms"] = (applied["totalMs"] / max(1, applied["count"]), applied["maxMs"])
    figures["api_to_screen_ms"] = (statistics.median(round_trips), max(round_trips))

    # A burst: every container deleted (an exit and a delete event each), the page live.
    page.evaluate(
        """() => {
      const t = window.containerdTrio.timings;
      t.eventApply = {count: 0, totalMs: 0, maxMs: 0};
      t.render = {count: 0, totalMs: 0, maxMs: 0};
    }"""
    )
    page.evaluate(
        """() => {
      window.longFrames = [];
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) window.longFrames.push(e.duration);
      }).observe({type: 'longtask', buffered: false});
    }"""
    )
    began = time.monotonic()
    in_parallel(
        lambda i: client.delete(f"/containers/{i}", params={"timeout": "0"}).raise_for_status(), ids
    )
    deleted_s = time.monotonic() - began
    expect(page.locator('[data-count="all"]')).to_have_text("0")
    figures["burst"] = {
        "events": page.evaluate("window.containerdTrio.timings.eventApply.count"),
        "delete_s": deleted_s,
        "list_empty_after_s": time.monotonic() - began,
        "apply_mean_ms": page.evaluate(
            "(t => t.totalMs / Math.max(1, t.count))(window.containerdTrio.timings.eventApply)"
        ),
        "long_tasks": page.evaluate("window.longFrames"),
        "renders": page.evaluate("window.containerdTrio.timings.render"),
        "apply_max_ms": page.evaluate("window.containerdTrio.timings.eventApply.maxMs"),
    }
    figures["js_heap_mib"] = page.evaluate("performance.memory.usedJSHeapSize") / 2**20
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--screenshots", type=Path, metavar="DIR")
    parser.add_argument("--containers", type=int, metavar="N")
    parser.add_argument("--port", type=int, metavar="N", help="the daemon's (default: a free one)")
    args = parser.parse_args()
    if args.screenshots is None and args.containers is None:
        parser.error("give --screenshots DIR and/or --containers N")
    if os.geteuid() != 0:
        parser.error("run as root (runc needs it), under the test lock")
    with tempfile.TemporaryDirectory(prefix="page-figures-") as temporary:
        tmp = Path(temporary)
        with (
            sync_playwright() as playwright,
            running_daemon(tmp / "state", args.port or free_port()) as url,
        ):
            browser = launch(playwright)
            if args.screenshots is not None:
                args.screenshots.mkdir(parents=True, exist_ok=True)
                screenshots(url, tmp / "bundles", browser, args.screenshots)
            if args.containers is not None:
                print(json.dumps(many(url, tmp / "bundles", browser, args.containers), indent=2))
            browser.close()


if __name__ == "__main__":
    main()
