"""Shared helpers of the real-browser tests: headless Chromium from the system, offline.

The browser is the system's Chromium (Debian: ``apt-get install chromium``), driven by
Playwright through ``executable_path``; nothing downloads a browser. Without Chromium or
Playwright the tests are skipped with the reason, unless ``EBMBOOK_BROWSER_TESTS=required``
(set by CI once it has installed the browser), which turns a skip into a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def required() -> bool:
    return os.environ.get("EBMBOOK_BROWSER_TESTS", "").strip().lower() == "required"


def skip(reason: str) -> None:
    """Skip with ``reason``, or fail when CI requires the browser tests."""
    if required():
        pytest.fail(f"{reason} (EBMBOOK_BROWSER_TESTS=required)")
    pytest.skip(reason)


def chromium_path() -> str | None:
    for candidate in (
        os.environ.get("EBMBOOK_CHROMIUM", ""),
        shutil.which("chromium") or "",
        shutil.which("chromium-browser") or "",
        "/usr/bin/chromium",
    ):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium browser (Playwright ``Browser``), or a skip that says what is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip("the browser tests need the Python package playwright (pip install playwright)")
    path = chromium_path()
    if path is None:
        skip("the browser tests need Chromium: apt-get install -y chromium (none is downloaded)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, headless=True, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def is_local(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in ("data", "blob", "about", "javascript"):
        return True
    return parts.hostname in LOCAL_HOSTS


class Offline:
    """A browser context that refuses every request off this machine and records each one.

    Also records console errors, uncaught page errors, failed requests and HTTP errors, so a
    test can assert that a page needed nothing it could not have.
    """

    def __init__(self, browser: Any, **context_options: Any):
        self.context = browser.new_context(**context_options)
        self.blocked: list[str] = []
        self._pending: dict[int, dict[int, str]] = {}
        self.context.route("**/*", self._route)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if is_local(url):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("internetdisconnected")

    def new_page(self) -> tuple[Any, dict[str, list[str]]]:
        page = self.context.new_page()
        log: dict[str, list[str]] = {"console": [], "pageerror": [], "failed": [], "http": []}

        def on_console(msg: Any) -> None:
            if msg.type == "error":
                log["console"].append(msg.text)

        def on_failed(req: Any) -> None:
            if is_local(req.url):  # blocked remote requests are reported as `blocked`
                log["failed"].append(f"{req.url}: {req.failure}")

        def on_response(resp: Any) -> None:
            if resp.status >= 400:
                log["http"].append(f"{resp.url}: HTTP {resp.status}")

        pending: dict[int, str] = {}

        def started(req: Any) -> None:
            pending[id(req)] = req.url

        def ended(req: Any) -> None:
            pending.pop(id(req), None)

        page.on("console", on_console)
        page.on("pageerror", lambda err: log["pageerror"].append(str(err)))
        page.on("request", started)
        page.on("requestfinished", ended)
        page.on("requestfailed", on_failed)
        page.on("requestfailed", ended)
        page.on("response", on_response)
        self._pending[id(page)] = pending
        return page, log

    def settle(self, page: Any, timeout_ms: float) -> None:
        """Wait until no request of ``page`` is in flight (then every failure has been seen)."""
        pending = self._pending[id(page)]
        waited = 0.0
        while pending and waited < timeout_ms:
            page.wait_for_timeout(100)
            waited += 100
        if pending:
            urls = sorted(set(pending.values()))[:5]
            raise AssertionError(f"requests unanswered after {timeout_ms / 1e3:.0f} s: {urls}")

    def close(self) -> None:
        self.context.close()
