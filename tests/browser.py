"""Headless Chromium (Debian's package) driven by Playwright's Python package.

Playwright's sync API must be used from the thread that started it, and the tests run on Trio:
so the browser lives on one thread of its own, and a test hands it functions to run there
(:meth:`Chromium.run`), awaiting their result without blocking the daemon it is testing, which
runs on the Trio thread. Playwright never downloads a browser here: it drives
``/usr/bin/chromium``, which ``make install`` installs.
"""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Callable
from typing import Any, TypeVar

import trio
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

T = TypeVar("T")

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

#: As root in a sandbox with no network: no setuid sandbox, no GPU, and none of the background
#: connections (updates, sync, field trials) that the closed network refuses by the dozen.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
    "--mute-audio",
]

#: How long a page-side wait (a row to appear, a badge to change) may take.
WAIT_MS = 20_000


class ChromiumMissing(RuntimeError):
    pass


def launch(playwright: Playwright) -> Browser:
    if not os.access(CHROMIUM, os.X_OK):
        raise ChromiumMissing(
            f"{CHROMIUM} is not there: `make install` installs Debian's chromium package"
        )
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


class Chromium:
    """One browser for a whole test session, on its own thread."""

    def __init__(self) -> None:
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="chromium")
        self._playwright: Playwright | None = None
        self.browser: Browser | None = None

    def start(self) -> None:
        self._thread.submit(self._start).result()

    def _start(self) -> None:
        self._playwright = sync_playwright().start()
        self.browser = launch(self._playwright)

    def close(self) -> None:
        def close() -> None:
            if self.browser is not None:
                self.browser.close()
            if self._playwright is not None:
                self._playwright.stop()

        self._thread.submit(close).result()
        self._thread.shutdown()

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` on the browser's thread; its result, or its exception."""
        future = self._thread.submit(function, *args)
        return await trio.to_thread.run_sync(future.result, abandon_on_cancel=True)

    def new_context(self) -> BrowserContext:
        """(On the browser's thread.) A fresh profile: no cache, no storage from other tests."""
        assert self.browser is not None
        context = self.browser.new_context(viewport={"width": 1440, "height": 900})
        context.set_default_timeout(WAIT_MS)
        return context


class PageErrors:
    """What went wrong inside a page: uncaught exceptions and Content-Security-Policy refusals.

    (Not every console error: Chromium logs each 4xx answer and refused connection there, and
    the page meets those on purpose, e.g. while the daemon restarts.)
    """

    def __init__(self, page: Page) -> None:
        self.messages: list[str] = []
        page.on("pageerror", lambda error: self.messages.append(f"uncaught: {error}"))
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            self.messages.append(f"refused by the policy: {message.text}")
