"""The browser client in real headless Chromium, driven by Playwright.

The server runs in its own thread (Playwright's sync API brings its own
event loop), with a fake gateway that understands the one-line login, ``look``
and walking. The test logs in through the form, types ``look``, and checks
the terminal and the side panel.

Needs Debian's ``chromium`` and the ``playwright`` Python package (only the
package: it drives the system Chromium, nothing is downloaded).
"""

from __future__ import annotations

import os
import threading
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

from driver.net.web import serve_web

from ..browser_support import chromium_page, import_playwright, needs_chromium

sync_api = import_playwright()
pytestmark = needs_chromium

ROOMS = {
    "square": {
        "num": 1,
        "name": "The Town Square",
        "area": "Haven",
        "exits": {"north": 2, "east": 3},
        "text": (
            "{bold bright-yellow}The Town Square{/}\n"
            "A {#7fd1ff}fountain{/} splashes in the middle of the square; "
            "{green}ivy{/} climbs the old walls.\n"
            "Exits: {cyan}north{/}, {cyan}east{/}.\n"
        ),
    },
    "gate": {
        "num": 2,
        "name": "The North Gate",
        "area": "Haven",
        "exits": {"south": 1},
        "text": "{bold bright-yellow}The North Gate{/}\nThe road leaves town here.\n",
    },
}
VITALS = {"hp": 84, "maxhp": 120, "mp": 18, "maxmp": 60, "ep": 90, "maxep": 100}


class BrowserGateway:
    """Just enough of a game: login, look, walk north and back."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.lock = threading.Lock()

    def connect(self, session: Any) -> Any:
        session.send_text("{bold}Welcome to JitRealm.{/} Log in to play.\n")
        session.send_prompt("> ")
        return _Handler(self, session)

    def seen(self) -> list[str]:
        with self.lock:
            return list(self.lines)


class _Handler:
    def __init__(self, gateway: BrowserGateway, session: Any) -> None:
        self.gateway = gateway
        self.session = session
        self.room = "square"
        self.asked_password = False

    def show_room(self) -> None:
        room = ROOMS[self.room]
        self.session.send_text(room["text"])
        info = {key: value for key, value in room.items() if key != "text"}
        self.session.send_gmcp("Room.Info", info)

    def on_line(self, text: str) -> None:
        with self.gateway.lock:
            self.gateway.lines.append(text)
        words = text.split()
        if self.asked_password:
            self.asked_password = False
            self.session.send_text("Password accepted.\n")
        elif text == "login":
            self.asked_password = True
            self.session.send_prompt("Password: ")
            return
        elif words[:1] in (["connect"], ["create"]) and len(words) == 3:
            self.session.send_text(f"Welcome back, {{bold}}{words[1]}{{/}}.\n")
            self.session.send_gmcp("Char.Name", {"name": words[1].capitalize()})
            self.session.send_gmcp("Char.Vitals", VITALS)
            self.show_room()
        elif text == "look":
            self.show_room()
        elif text in ("north", "south") and text in ROOMS[self.room]["exits"]:
            self.session.send_text(f"You walk {text}.\n")
            self.room = "gate" if text == "north" else "square"
            self.show_room()
        else:
            self.session.send_text(f"You said: {text}\n")
        self.session.send_prompt("> ")

    def on_gmcp(self, package: str, data: Any) -> None:
        pass

    def on_disconnect(self, reason: str) -> None:
        pass


class ServerThread:
    """serve_web in a thread of its own, with its own trio run."""

    def __init__(self, gateway: Any) -> None:
        self.gateway = gateway
        self.port = 0
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:  # reported to the test thread
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            self._scope = nursery.cancel_scope
            self.port = await nursery.start(partial(serve_web, self.gateway, "127.0.0.1", 0))
            self._ready.set()

    def __enter__(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            raise RuntimeError(f"test server did not start: {self._error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        trio.from_thread.run_sync(self._scope.cancel, trio_token=self._token)
        self._thread.join(10)


@pytest.fixture
def browser_page(tmp_path: Path):
    with chromium_page(tmp_path / "profile") as page:
        yield page


def _wait_for_line(gateway: BrowserGateway, line: str, page: Any) -> None:
    for _ in range(100):  # 100 x 100 ms
        if line in gateway.seen():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"server never got {line!r}; got {gateway.seen()!r}")


def test_login_look_and_side_panel(browser_page: Any, tmp_path: Path) -> None:
    page = browser_page
    expect = sync_api.expect
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    gateway = BrowserGateway()
    with ServerThread(gateway) as server:
        page.goto(f"http://127.0.0.1:{server.port}/")
        expect(page.locator("#status")).to_have_attribute("data-state", "online")
        expect(page.locator("#output")).to_contain_text("Welcome to JitRealm.")

        # Log in through the form.
        expect(page.locator("#login-overlay")).to_be_visible()
        page.fill("#login-name", "alice")
        page.fill("#login-password", "s3cret-pass")
        page.click("#connect-button")
        expect(page.locator("#login-overlay")).to_be_hidden()
        expect(page.locator("#output")).to_contain_text("Welcome back, alice.")
        _wait_for_line(gateway, "connect alice s3cret-pass", page)
        expect(page.locator("#output")).not_to_contain_text("s3cret-pass")
        expect(page.locator("#who")).to_have_text("Alice")

        # Type a command.
        page.fill("#command", "look")
        page.press("#command", "Enter")
        _wait_for_line(gateway, "look", page)
        expect(page.locator("#output")).to_contain_text("A fountain splashes in the middle")
        expect(page.locator("#output .echo").last).to_have_text("look")

        # ANSI colour came through as styled spans: bold bright yellow, truecolor.
        title = page.locator("#output span.b", has_text="The Town Square").last
        expect(title).to_have_css("color", "rgb(255, 214, 138)")
        expect(page.locator("#output span", has_text="fountain").last).to_have_css(
            "color", "rgb(127, 209, 255)"
        )

        # The side panel shows Room.Info and the vitals.
        expect(page.locator("#room-name")).to_have_text("The Town Square")
        expect(page.locator("#room-area")).to_have_text("Haven")
        expect(page.locator("#exits button")).to_have_text(["north", "east"])
        expect(page.locator("#compass button[data-dir=north]")).to_be_enabled()
        expect(page.locator("#compass button[data-dir=south]")).to_be_disabled()
        expect(page.locator("#vitals .vital")).to_have_count(3)
        expect(page.locator("#vitals .vital[data-kind=hp] .vital-numbers")).to_have_text("84 / 120")
        page.screenshot(path=str(tmp_path / "client.png"))
        shot = os.environ.get("JITREALM_SCREENSHOT")
        if shot:
            page.screenshot(path=shot)

        # An exit button sends its direction.
        page.click("#exits button:has-text('north')")
        _wait_for_line(gateway, "north", page)
        expect(page.locator("#room-name")).to_have_text("The North Gate")
        expect(page.locator("#exits button")).to_have_text(["south"])

        # History: Up brings back the last typed command.
        page.focus("#command")
        page.press("#command", "ArrowUp")
        expect(page.locator("#command")).to_have_value("look")
        page.press("#command", "ArrowDown")
        expect(page.locator("#command")).to_have_value("")

    assert errors == []
    assert gateway.seen() == ["connect alice s3cret-pass", "look", "north"]


def test_narrow_screen_folds_the_panel(browser_page: Any, tmp_path: Path) -> None:
    page = browser_page
    expect = sync_api.expect
    page.set_viewport_size({"width": 420, "height": 800})
    with ServerThread(BrowserGateway()) as server:
        page.goto(f"http://127.0.0.1:{server.port}/")
        page.click("#skip-login")
        expect(page.locator("#panel")).to_be_hidden()
        page.click("#panel-toggle")
        expect(page.locator("#panel")).to_be_visible()
        page.fill("#command", "connect bob hunter22")
        page.press("#command", "Enter")
        expect(page.locator("#room-name")).to_have_text("The Town Square")
        expect(page.locator("#output")).not_to_contain_text("hunter22")

        # After a password prompt the command line hides what is typed.
        page.fill("#command", "login")
        page.press("#command", "Enter")
        expect(page.locator("#command")).to_have_attribute("type", "password")
        page.fill("#command", "swordfish")
        page.press("#command", "Enter")
        expect(page.locator("#output")).to_contain_text("Password accepted.")
        expect(page.locator("#output")).not_to_contain_text("swordfish")
        expect(page.locator("#command")).to_have_attribute("type", "text")
        page.press("#command", "ArrowUp")
        expect(page.locator("#command")).to_have_value("login")
        shot = os.environ.get("JITREALM_SCREENSHOT_NARROW")
        if shot:
            page.screenshot(path=shot)
