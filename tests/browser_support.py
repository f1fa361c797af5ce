"""Headless Chromium for the browser tests: where it is, how it is started,
and the skips when it (or Playwright) is missing.

Needs Debian's ``chromium`` and the ``playwright`` Python package (only the
package: it drives the system Chromium, nothing is downloaded).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STEP_TIMEOUT_MS = 10_000  # any one Playwright action (the page's default)

# A test module's ``pytestmark``: skip it where there is no Chromium.
needs_chromium = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)",
)


def import_playwright() -> ModuleType:
    """``playwright.sync_api``; skips the calling test module without it."""
    return pytest.importorskip(
        "playwright.sync_api",
        reason="the playwright Python package is not installed (pip install playwright)",
    )


@contextmanager
def chromium_page(
    profile: Path,
    *,
    launch_timeout_ms: float | None = None,
    timings: dict[str, float] | None = None,
) -> Iterator[Any]:
    """A 1280x800 page in a fresh headless Chromium with its own profile
    directory; closed on exit. ``launch_timeout_ms``: how long Chromium may
    take to start (None: Playwright's default); ``timings["launch"]``: how
    long it took."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        started = time.monotonic()
        context = playwright.chromium.launch_persistent_context(
            user_data_dir=str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 800},
            timeout=launch_timeout_ms,
        )
        if timings is not None:
            timings["launch"] = time.monotonic() - started
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(STEP_TIMEOUT_MS)
            yield page
        finally:
            context.close()
