"""The browser client against the REAL server, in real headless Chromium.

The Players issue's "a newcomer can play from the browser page, and sees
room info in the side panel": ``driver.server.serve`` runs a
:class:`~driver.app.Realm` over ``tests/worlds/basic`` on 127.0.0.1 (port 0)
in the test's trio loop; Playwright's sync API drives Debian's Chromium from
a worker thread. The page is loaded from the server's HTTP port, a character
is created through the login form, ``look`` is typed, and the side panel is
checked against GMCP Room.Info; clicking exits walks east and back. A telnet
player standing in the start room sees the browser player come and go and
speak, so both transports meet in one world.

Needs Debian's ``chromium`` and the ``playwright`` Python package (only the
package: it drives the system Chromium, nothing is downloaded). Screenshots
go to /tmp (``JITREALM_E2E_SCREENSHOTS`` overrides the directory).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import trio

from ..browser_support import STEP_TIMEOUT_MS, chromium_page, import_playwright, needs_chromium
from .test_e2e_telnet import MudClient, log_in, running_server

SHOTS = Path(os.environ.get("JITREALM_E2E_SCREENSHOTS", "/tmp"))
LAUNCH_TIMEOUT_MS = 30_000  # Chromium's start

sync_api = import_playwright()
pytestmark = needs_chromium


def wait_for_count(page: Any, needle: str, count: int) -> None:
    """Wait (bounded) until the terminal shows ``needle`` at least ``count`` times."""
    page.wait_for_function(
        "([needle, count]) => document.getElementById('output').textContent.split(needle).length - 1 >= count",
        arg=[needle, count],
        timeout=STEP_TIMEOUT_MS,
    )


@contextmanager
def watched_page(profile: Path, errors: list[str], timings: dict[str, float]) -> Iterator[Any]:
    """A page in a fresh headless Chromium (its own profile directory);
    page errors and console errors are collected in ``errors``."""
    sync_api.expect.set_options(timeout=STEP_TIMEOUT_MS)  # expectations, like actions
    with chromium_page(profile, launch_timeout_ms=LAUNCH_TIMEOUT_MS, timings=timings) as page:
        page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        yield page


def play_in_browser(url: str, profile: Path) -> dict[str, Any]:
    """Run in a worker thread: Chromium plays one session. Raises on the
    first expectation that fails; returns what the caller checks further."""
    expect = sync_api.expect
    errors: list[str] = []
    timings: dict[str, float] = {}
    with watched_page(profile, errors, timings) as page:
        output = page.locator("#output")

        started = time.monotonic()
        page.goto(url)
        expect(page.locator("#status")).to_have_attribute("data-state", "online")
        expect(output).to_contain_text("What is your name?")
        timings["page"] = time.monotonic() - started

        # Create a character through the login form.
        started = time.monotonic()
        expect(page.locator("#login-overlay")).to_be_visible()
        page.fill("#login-name", "Webby")
        page.fill("#login-password", "browser99")
        page.click("#create-button")
        expect(page.locator("#login-overlay")).to_be_hidden()
        expect(output).to_contain_text("Welcome to Testland, Webby!")
        expect(output).to_contain_text("Obvious exits: east.")
        expect(output).not_to_contain_text("browser99")
        timings["login"] = time.monotonic() - started

        # look: the room text in the terminal, and the side panel.
        page.fill("#command", "look")
        page.press("#command", "Enter")
        expect(page.locator("#output .echo").last).to_have_text("look")
        # Arrival and look: the description twice.
        wait_for_count(page, "A bare test room. A hall lies east.", 2)
        expect(page.locator("#room-name")).to_have_text("The Start")
        expect(page.locator("#room-area")).to_have_text("testland")
        expect(page.locator("#exits button")).to_have_text(["east"])
        expect(page.locator("#compass button[data-dir=east]")).to_be_enabled()
        expect(page.locator("#compass button[data-dir=west]")).to_be_disabled()
        expect(page.locator("#compass button[data-dir=north]")).to_be_disabled()
        # The room title came through as colour (bold cyan), not as codes.
        title = page.locator("#output span.b", has_text="The Start").first
        expect(title).to_be_visible()
        assert "\x1b" not in output.inner_text()
        page.screenshot(path=str(SHOTS / "jitrealm-e2e-browser-start.png"))

        # Click the exit button: we walk, and the panel follows.
        started = time.monotonic()
        page.click("#exits button:has-text('east')")
        expect(page.locator("#room-name")).to_have_text("The Hall")
        expect(page.locator("#exits button")).to_have_text(["west"])
        expect(page.locator("#compass button[data-dir=west]")).to_be_enabled()
        expect(page.locator("#compass button[data-dir=east]")).to_be_disabled()
        expect(output).to_contain_text("A long hall. The start room is west.")
        timings["walk"] = time.monotonic() - started
        page.screenshot(path=str(SHOTS / "jitrealm-e2e-browser-hall.png"))

        # The compass works too.
        page.click("#compass button[data-dir=west]")
        expect(page.locator("#room-name")).to_have_text("The Start")
        expect(page.locator("#exits button")).to_have_text(["east"])

        page.fill("#command", "say hello from the browser")
        page.press("#command", "Enter")
        expect(output).to_contain_text("You say: hello from the browser")
        text = output.inner_text()
        page.screenshot(path=str(SHOTS / "jitrealm-e2e-browser.png"))

        page.fill("#command", "quit")
        page.press("#command", "Enter")
        expect(output).to_contain_text("Farewell.")
        expect(page.locator("#status")).to_have_attribute("data-state", "offline")
    return {"errors": errors, "text": text, "timings": timings}


async def test_browser_plays_the_real_server(sandbox, basic_build, tmp_path):
    async with running_server(sandbox, basic_build) as server:
        watcher = await MudClient.connect(server.telnet_port)
        await log_in(watcher, "watcher")

        url = f"http://127.0.0.1:{server.http_port}/"
        result = await trio.to_thread.run_sync(play_in_browser, url, tmp_path / "profile")

        assert result["errors"] == []
        text = result["text"]
        assert text.index("The Start") < text.index("The Hall") < text.index("You say: hello")
        # The telnet player in the start room saw the browser player.
        await watcher.expect("Webby arrives.")
        await watcher.expect("Webby leaves east.")
        await watcher.expect("Webby arrives.")
        await watcher.expect("Webby says: hello from the browser")
        await watcher.expect("Webby leaves the game.")
        assert server.realm.accounts.get("webby") is not None
        print("browser timings (s):", {k: round(v, 2) for k, v in result["timings"].items()})
        await watcher.aclose()


def prompted_login_in_browser(url: str, profile: Path) -> dict[str, Any]:
    """Run in a worker thread: the friendly prompted flow, typed into the
    terminal: name, yes, password twice; the password field hides it."""
    expect = sync_api.expect
    errors: list[str] = []
    timings: dict[str, float] = {}
    with watched_page(profile, errors, timings) as page:
        output = page.locator("#output")
        command = page.locator("#command")
        page.goto(url)
        expect(output).to_contain_text("What is your name?")
        page.click("#skip-login")
        expect(page.locator("#login-overlay")).to_be_hidden()
        command.fill("Newbie")
        command.press("Enter")
        expect(output).to_contain_text("There is no character called Newbie. Create it? (yes/no)")
        command.fill("yes")
        command.press("Enter")
        expect(output).to_contain_text("Choose a password")
        expect(command).to_have_attribute("type", "password")
        command.fill("hidden99")
        command.press("Enter")
        expect(output).to_contain_text("Type the password again")
        expect(command).to_have_attribute("type", "password")
        command.fill("hidden99")
        command.press("Enter")
        expect(output).to_contain_text("Welcome to Testland, Newbie!")
        expect(page.locator("#room-name")).to_have_text("The Start")
        expect(command).to_have_attribute("type", "text")
        expect(output).not_to_contain_text("hidden99")
        # The password is not in the command history either.
        command.press("ArrowUp")
        expect(command).to_have_value("yes")
        command.press("ArrowUp")
        expect(command).to_have_value("Newbie")
        text = output.inner_text()
    return {"errors": errors, "text": text}


async def test_browser_prompted_login_hides_the_password(sandbox, basic_build, tmp_path):
    async with running_server(sandbox, basic_build) as server:
        url = f"http://127.0.0.1:{server.http_port}/"
        result = await trio.to_thread.run_sync(prompted_login_in_browser, url, tmp_path / "profile")
        assert result["errors"] == []
        assert "hidden99" not in result["text"]
        assert server.realm.accounts.get("newbie") is not None
