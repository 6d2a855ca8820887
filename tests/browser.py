"""Finding and starting the machine's Chromium for the browser tests (Playwright drives it).

Outside CI a missing Chromium skips the test with a message saying how to get one; in CI (`CI` set)
it fails, so a CI machine without a browser can never pass these tests by skipping them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator

import pytest

CHROMIUM_HINT = (
    "no Chromium found: install Debian's package (`apt-get install chromium`) or set PHI_LAB_CHROMIUM "
    "to a Chromium/Chrome binary; .ci/run installs it in CI"
)
# Headless, and none of Chromium's own network chatter (this machine's network is closed).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def find_chromium() -> str | None:
    for candidate in (os.environ.get("PHI_LAB_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


def require_chromium() -> str:
    """The Chromium binary, or skip (outside CI) / fail (in CI) with `CHROMIUM_HINT`."""
    found = find_chromium()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(CHROMIUM_HINT)
        pytest.skip(CHROMIUM_HINT)
    return found


@contextlib.contextmanager
def chromium_browser() -> Iterator[object]:
    """A headless Chromium for one test, closed afterwards (a playwright.sync_api.Browser)."""
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
