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


# -- the accessibility audit ----------------------------------------------------------------

#: axe-core, the accessibility engine, from the npm registry: pinned, checked
#: against the registry's integrity hash, fetched once into a cache
#: directory (never from a CDN at run time, never by the page under test).
AXE_VERSION = "4.14.1"
AXE_TARBALL = f"https://registry.npmjs.org/axe-core/-/axe-core-{AXE_VERSION}.tgz"
AXE_INTEGRITY = "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
AXE_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jitrealm-tests"

#: The rules the audit holds the client to: WCAG 2.0, 2.1 and 2.2, A and AA
#: (contrast among them), and axe's best practices.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def axe_source() -> str:
    """axe.min.js, fetched and verified on first use; skips the calling test
    when the registry cannot be reached (CI treats that skip as a failure)."""
    import base64
    import hashlib
    import io
    import tarfile
    import urllib.request

    cached = AXE_CACHE / f"axe-core-{AXE_VERSION}.min.js"
    if cached.is_file():
        return cached.read_text(encoding="utf-8")
    try:
        with urllib.request.urlopen(AXE_TARBALL, timeout=60) as response:
            tarball = response.read()
    except OSError as exc:
        pytest.skip(f"axe-core {AXE_VERSION} could not be fetched from the npm registry: {exc}")
    algorithm, _, expected = AXE_INTEGRITY.partition("-")
    digest = base64.b64encode(hashlib.new(algorithm, tarball).digest()).decode()
    assert digest == expected, f"axe-core tarball integrity mismatch: {digest} != {expected}"
    with tarfile.open(fileobj=io.BytesIO(tarball)) as archive:
        member = archive.extractfile("package/axe.min.js")
        assert member is not None
        source = member.read().decode("utf-8")
    AXE_CACHE.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(".part")
    partial.write_text(source, encoding="utf-8")
    partial.replace(cached)
    return source


def axe_audit(page: Any, *, tags: list[str] = AXE_TAGS) -> list[dict[str, Any]]:
    """Run axe-core in ``page`` as it is now; its violations (empty: none).

    The engine is added with Playwright's ``add_script_tag`` (content, not a
    URL), which the page's Content-Security-Policy would refuse for an
    inline script; so it is evaluated in the page instead."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    # Contrast axe cannot measure (text over a gradient or an image) is
    # reported as "incomplete", not as a violation; here it fails too, so
    # that "passes WCAG AA" means measured and passed.
    result = page.evaluate(
        """async (tags) => {
            const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
            const unmeasured = r.incomplete.filter((v) => v.id === 'color-contrast').map((v) => ({
                ...v,
                nodes: v.nodes.filter((n) => !n.any.some((a) => (a.data || {}).messageKey === 'nonBmp')),
            })).filter((v) => v.nodes.length);
            return [...r.violations, ...unmeasured];
        }""",
        tags,
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [
                (n["target"], n.get("failureSummary") or "; ".join(a["message"] for a in n.get("any", [])))
                for n in v["nodes"][:5]
            ],
        }
        for v in result
    ]
