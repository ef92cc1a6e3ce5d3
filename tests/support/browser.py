"""Debian's Chromium driven by Playwright, for the web GUI's tests: the browser (one per
module), a person's own context (seen at an address of their own, so one test's wrong
passwords do not slow another's down), and where screenshots are kept to be looked at."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("DEPLOYD_TEST_REQUIRE_ALL"),
    reason="needs Debian's chromium (apt-get install chromium)",
)
"""CI installs chromium and sets DEPLOYD_TEST_REQUIRE_ALL: there, its absence fails."""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium): DEPLOYD_TEST_REQUIRE_ALL")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def shots() -> Path:
    base = Path(os.environ.get("DEPLOYD_TEST_ARTIFACTS") or tempfile.gettempdir())
    where = base / "deployd-web-screenshots"
    where.mkdir(parents=True, exist_ok=True)
    print(f"screenshots of the web GUI: {where}")
    return where


def person(
    browser: Browser,
    address: str,
    viewport: dict[str, int] = DESKTOP,
    timeout_ms: int = 15_000,
) -> BrowserContext:
    """A browser of its own, seen at `address` (through the loopback proxy deployd web
    believes)."""
    context = browser.new_context(
        viewport=viewport,  # type: ignore[arg-type]
        extra_http_headers={"X-Forwarded-For": address},
    )
    context.set_default_timeout(timeout_ms)
    return context
