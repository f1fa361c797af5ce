"""The browser client as a player of a mature MUD expects it, in real
headless Chromium against the real server (the basic test world):

* login problems are said on the form, in the server's own words, and the
  form's name rule is the server's (served, not copied);
* input is hidden at every password prompt, first or repeated, and shown
  again after;
* output keeps following after the window is narrowed to phone width,
  unless the player scrolled back;
* the panel draws a map from GMCP Room.Info and shows Char.Vitals;
* the page passes an automated accessibility audit (axe-core: WCAG 2 A and
  AA, contrast measured) at desktop and phone widths, and can be played
  from the keyboard alone;
* after the server restarts, the page reconnects on its own, keeping the
  scrollback (with the real ``jitrealm run`` in a child process).

Playwright's sync API runs in a worker thread; every wait is bounded.
"""

from __future__ import annotations

import json
import signal
import time
from functools import partial
from pathlib import Path
from typing import Any

import trio

from driver.auth.rules import NAME_PATTERN, login_rules
from driver.server import serve

from ..browser_support import STEP_TIMEOUT_MS, axe_audit, import_playwright, needs_chromium
from ..driver_support import BASIC_WORLD, DEMO_WORLD, make_realm
from ..server_process import ServerProcess
from .test_e2e_browser import SHOTS, watched_page
from .test_e2e_telnet import running_server

sync_api = import_playwright()
pytestmark = needs_chromium

PHONE = {"width": 390, "height": 844}


def open_page(page: Any, url: str) -> None:
    page.goto(url)
    sync_api.expect(page.locator("#status")).to_have_attribute("data-state", "online")
    sync_api.expect(page.locator("#output")).to_contain_text("What is your name?")


def form_login(page: Any, verb: str, name: str, password: str) -> None:
    page.fill("#login-name", name)
    page.fill("#login-password", password)
    page.click("#create-button" if verb == "create" else "#connect-button")


def login_errors_on_the_form(url: str, profile: Path) -> dict[str, Any]:
    expect = sync_api.expect
    errors: list[str] = []
    with watched_page(profile, errors, {}) as page:
        open_page(page, url)
        error = page.locator("#login-error")
        overlay = page.locator("#login-overlay")
        expect(page.locator("#login-name-hint")).to_contain_text(login_rules()["name"]["hint"])
        pattern = page.evaluate("document.getElementById('login-name').pattern")

        # A name the old hint allowed: refused on the form, with the rule.
        form_login(page, "create", "Bob_2", "secret99")
        expect(error).to_contain_text("cannot be a name")
        expect(error).to_contain_text(login_rules()["name"]["hint"])
        expect(overlay).to_be_visible()

        # The server's refusals land on the form too, and the form stays.
        form_login(page, "connect", "Nobody", "secret99")
        expect(error).to_contain_text("There is no character called Nobody.")
        expect(overlay).to_be_visible()
        expect(page.locator("#login-password")).to_be_focused()
        form_login(page, "create", "Webber", "abc")
        expect(error).to_contain_text("too short")
        form_login(page, "create", "Webber", "webber")  # the server's own rule
        expect(error).to_contain_text("Your password may not be your name.")
        expect(overlay).to_be_visible()

        form_login(page, "create", "Webber", "spider99")
        expect(overlay).to_be_hidden()
        expect(page.locator("#output")).to_contain_text("Welcome to Testland, Webber!")
        page.fill("#command", "quit")
        page.press("#command", "Enter")
        expect(page.locator("#output")).to_contain_text("Farewell.")
        expect(page.locator("#status")).to_have_attribute("data-state", "offline")

        # Log in again, wrongly first: the reason is on the form.
        page.click("#login-button")
        expect(page.locator("#status")).to_have_attribute("data-state", "online")
        form_login(page, "connect", "Webber", "wrong999")
        expect(error).to_contain_text("Wrong password.")
        expect(overlay).to_be_visible()
        form_login(page, "connect", "Webber", "spider99")
        expect(overlay).to_be_hidden()
        expect(page.locator("#output")).to_contain_text("Welcome back, Webber.")
        # Typing now plays; it is not taken for a name at the login screen.
        page.fill("#command", "look")
        page.press("#command", "Enter")
        sync_api.expect(page.locator("#output")).not_to_contain_text("There is no character called Look")
        text = page.locator("#output").inner_text()
    return {"errors": errors, "pattern": pattern, "text": text}


async def test_login_problems_are_shown_on_the_form_with_the_servers_rule(sandbox, basic_build, tmp_path):
    async with running_server(sandbox, basic_build) as server:
        url = f"http://127.0.0.1:{server.http_port}/"
        result = await trio.to_thread.run_sync(login_errors_on_the_form, url, tmp_path / "profile")
    assert result["errors"] == []
    assert result["pattern"] == NAME_PATTERN  # the server's rule, served
    for password in ("secret99", "spider99", "wrong999", "webber"):
        assert password not in result["text"]


def passwords_in_the_terminal(url: str, profile: Path) -> dict[str, Any]:
    """The prompted flow typed into the terminal: every password prompt,
    first or repeated, hides what is typed; the command line is text again
    after."""
    expect = sync_api.expect
    errors: list[str] = []
    typed: list[str] = []
    with watched_page(profile, errors, {}) as page:
        open_page(page, url)
        page.click("#skip-login")
        command = page.locator("#command")
        output = page.locator("#output")

        def answer(prompt: str, line: str, *, hidden: bool) -> None:
            expect(output).to_contain_text(prompt)
            expect(command).to_have_attribute("type", "password" if hidden else "text")
            command.fill(line)
            command.press("Enter")
            typed.append(line)

        answer("What is your name?", "Pwnew", hidden=False)
        answer("Create it? (yes/no)", "yes", hidden=False)
        answer("Choose a password", "abc12", hidden=True)  # too short
        expect(output).to_contain_text("at least 6 characters long.")
        answer("Choose a password (at least 6 characters): ", "FirstTry1", hidden=True)
        answer("Type the password again", "Mismatch2", hidden=True)
        expect(output).to_contain_text("do not match")
        expect(command).to_have_attribute("type", "password")
        command.fill("SecondTry3")
        command.press("Enter")
        answer("Type the password again", "SecondTry3", hidden=True)
        expect(output).to_contain_text("Welcome to Testland, Pwnew!")
        expect(command).to_have_attribute("type", "text")
        command.fill("quit")
        command.press("Enter")
        expect(page.locator("#status")).to_have_attribute("data-state", "offline")
        page.click("#login-button")
        page.click("#skip-login")
        expect(output).to_contain_text("What is your name?")
        expect(page.locator("#status")).to_have_attribute("data-state", "online")
        command.fill("Pwnew")
        command.press("Enter")
        answer("Password:", "WrongPass9", hidden=True)
        expect(output).to_contain_text("Wrong password.")
        answer("Wrong password.\nPassword: ", "SecondTry3", hidden=True)
        expect(output).to_contain_text("Welcome back, Pwnew.")
        expect(command).to_have_attribute("type", "text")
        command.fill("say shown again")
        command.press("Enter")
        expect(page.locator("#output .echo").last).to_have_text("say shown again")
        text = output.inner_text()
    return {"errors": errors, "text": text}


async def test_every_password_prompt_hides_input_in_the_browser(sandbox, basic_build, tmp_path):
    async with running_server(sandbox, basic_build) as server:
        url = f"http://127.0.0.1:{server.http_port}/"
        result = await trio.to_thread.run_sync(passwords_in_the_terminal, url, tmp_path / "profile")
    assert result["errors"] == []
    for password in ("abc12", "FirstTry1", "Mismatch2", "SecondTry3", "WrongPass9"):
        assert password not in result["text"]


def last_line_visible(page: Any) -> bool:
    return page.evaluate(
        """() => {
            const out = document.getElementById('output');
            return out.scrollHeight - out.scrollTop - out.clientHeight < 4;
        }"""
    )


def following_output(url: str, profile: Path) -> dict[str, Any]:
    expect = sync_api.expect
    errors: list[str] = []
    with watched_page(profile, errors, {}) as page:
        open_page(page, url)
        form_login(page, "create", "Scroller", "scroll99")
        expect(page.locator("#login-overlay")).to_be_hidden()
        output = page.locator("#output")
        for n in range(12):  # plenty of scrollback
            page.fill("#command", f"say line {n} " + "words " * 12)
            page.press("#command", "Enter")
        expect(output).to_contain_text("You say: line 11")
        assert last_line_visible(page)

        # Narrowed to phone width: the text reflows taller; it still follows.
        page.set_viewport_size(PHONE)
        page.fill("#command", "say after narrowing")
        page.press("#command", "Enter")
        expect(output).to_contain_text("You say: after narrowing")
        page.wait_for_function(
            "() => { const o = document.getElementById('output');"
            " return o.scrollHeight - o.scrollTop - o.clientHeight < 4; }",
            timeout=STEP_TIMEOUT_MS,
        )
        narrowed = last_line_visible(page)
        page.screenshot(path=str(SHOTS / "jitrealm-e2e-phone-follow.png"))

        # Scrolled back to read: new output does not pull the view down...
        page.evaluate("document.getElementById('output').scrollTop = 0")
        page.fill("#command", "say while reading")
        page.press("#command", "Enter")
        expect(output).to_contain_text("You say: while reading")
        page.wait_for_timeout(200)
        top = page.evaluate("document.getElementById('output').scrollTop")
        expect(page.locator("#jump-latest")).to_be_visible()
        # ...until the player asks for the latest again.
        page.click("#jump-latest")
        page.wait_for_function(
            "() => { const o = document.getElementById('output');"
            " return o.scrollHeight - o.scrollTop - o.clientHeight < 4; }",
            timeout=STEP_TIMEOUT_MS,
        )
        expect(page.locator("#jump-latest")).to_be_hidden()
        page.set_viewport_size({"width": 1280, "height": 800})
        page.fill("#command", "say wide again")
        page.press("#command", "Enter")
        expect(output).to_contain_text("You say: wide again")
        page.wait_for_timeout(200)
        wide = last_line_visible(page)
    return {"errors": errors, "narrowed": narrowed, "top": top, "wide": wide}


async def test_output_follows_after_narrowing_to_phone_width_unless_scrolled_back(sandbox, basic_build, tmp_path):
    async with running_server(sandbox, basic_build) as server:
        url = f"http://127.0.0.1:{server.http_port}/"
        result = await trio.to_thread.run_sync(following_output, url, tmp_path / "profile")
    assert result["errors"] == []
    assert result["narrowed"], "the newest line was off-screen after narrowing"
    assert result["top"] == 0, "output pulled the view down while the player read back"
    assert result["wide"]


def map_vitals_keyboard_and_audit(url: str, profile: Path) -> dict[str, Any]:
    expect = sync_api.expect
    errors: list[str] = []
    audits: dict[str, list[dict[str, Any]]] = {}
    with watched_page(profile, errors, {}) as page:
        open_page(page, url)
        audits["login form"] = axe_audit(page)
        # Keyboard only, from here on: the name field has the focus.
        expect(page.locator("#login-name")).to_be_focused()
        page.keyboard.type("admin")
        page.keyboard.press("Tab")
        page.keyboard.type("wizardly")
        page.keyboard.press("Enter")
        expect(page.locator("#login-overlay")).to_be_hidden()
        expect(page.locator("#command")).to_be_focused()
        page.keyboard.type("east")
        page.keyboard.press("Enter")
        expect(page.locator("#room-name")).to_have_text("The Hall")
        # Tab to the compass's west button and press it.
        for _ in range(40):
            if page.evaluate("document.activeElement.dataset.dir === 'west'"):
                break
            page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.dataset.dir") == "west"
        page.keyboard.press("Enter")
        expect(page.locator("#room-name")).to_have_text("The Start")

        # The map: two rooms seen, the hall east of the start, you are here.
        expect(page.locator("#map-card")).to_be_visible()
        expect(page.locator("#map .map-room")).to_have_count(2)
        expect(page.locator("#map .map-here title")).to_have_text("The Start")
        expect(page.locator("#map .map-exit")).to_have_count(1)
        rooms = page.evaluate(
            "[...window.JitRealmMap.rooms.values()].map((r) => [r.name, r.x, r.y, r.z])"
        )
        expect(page.locator("#map")).to_have_attribute("aria-label", "Map. You are in The Start; exits: east.")

        # Vitals, when the world sends Char.Vitals.
        page.keyboard.type("clone /obj/ticker")
        page.keyboard.press("Enter")
        expect(page.locator("#output")).to_contain_text("Cloned /obj/ticker#")
        page.keyboard.type("vitals")
        page.keyboard.press("Enter")
        expect(page.locator("#vitals-card")).to_be_visible()
        expect(page.locator("#vitals .vital[data-kind=hp] .vital-numbers")).to_have_text("7 / 10")
        page.keyboard.type("lok")
        page.keyboard.press("Enter")
        expect(page.locator("#output")).to_contain_text("Did you mean look?")
        audits["desktop, playing"] = axe_audit(page)
        page.screenshot(path=str(SHOTS / "jitrealm-e2e-map-desktop.png"))

        page.set_viewport_size(PHONE)
        page.click("#panel-toggle")
        expect(page.locator("#map")).to_be_visible()
        audits["phone, panel open"] = axe_audit(page)
        page.click("#panel-toggle")
        audits["phone"] = axe_audit(page)
        page.screenshot(path=str(SHOTS / "jitrealm-e2e-map-phone.png"))
    return {"errors": errors, "audits": audits, "rooms": rooms}


async def test_map_vitals_keyboard_play_and_accessibility_audit(sandbox, basic_build, tmp_path):
    async with running_server(sandbox, basic_build) as server:
        url = f"http://127.0.0.1:{server.http_port}/"
        result = await trio.to_thread.run_sync(map_vitals_keyboard_and_audit, url, tmp_path / "profile")
    assert result["errors"] == []
    assert sorted(result["rooms"]) == [["The Hall", 1, 0, 0], ["The Start", 0, 0, 0]]
    for where, violations in result["audits"].items():
        assert violations == [], f"{where}: {json.dumps(violations, indent=1)}"


def reconnecting(url: str, profile: Path, server: ServerProcess) -> dict[str, Any]:
    expect = sync_api.expect
    errors: list[str] = []
    with watched_page(profile, errors, {}) as page:
        open_page(page, url)
        form_login(page, "create", "Phoenix", "ashes999")
        expect(page.locator("#output")).to_contain_text("Welcome to Testland, Phoenix!")

        assert server.stop(signal.SIGTERM) == 0, server.log[-2000:]
        expect(page.locator("#output")).to_contain_text("The server is shutting down now.")
        expect(page.locator("#status")).not_to_have_attribute("data-state", "online")
        expect(page.locator("#status-text")).to_contain_text("Reconnecting")

        down = time.monotonic()
        server.start()
        # Nobody clicks anything: the page comes back by itself.
        expect(page.locator("#status")).to_have_attribute("data-state", "online", timeout=45_000)
        took = time.monotonic() - down
        output = page.locator("#output")
        expect(output).to_contain_text("Reconnected.")
        # The scrollback is still there, the new greeting after it.
        text = output.inner_text()
        expect(page.locator("#login-overlay")).to_be_visible()
        expect(page.locator("#login-error")).to_contain_text("Reconnected")
        form_login(page, "connect", "Phoenix", "ashes999")
        expect(page.locator("#login-overlay")).to_be_hidden()
        expect(output).to_contain_text("You take over your body again.")
    return {"errors": errors, "text": text, "took": took}


async def test_the_page_reconnects_on_its_own_after_a_restart_keeping_the_scrollback(basic_build, tmp_path):
    server = ServerProcess(BASIC_WORLD, basic_build, tmp_path / "var")
    try:
        _, http_port = await trio.to_thread.run_sync(server.start)
        url = f"http://127.0.0.1:{http_port}/"
        result = await trio.to_thread.run_sync(reconnecting, url, tmp_path / "profile", server)
    finally:
        server.kill()
    # WebSocket errors while the server is down are the browser's own console noise.
    assert [e for e in result["errors"] if "WebSocket" not in e and "ERR_CONNECTION_REFUSED" not in e] == []
    text = result["text"]
    assert text.index("Welcome to Testland, Phoenix!") < text.index("shutting down") < text.rindex("What is your name?")
    print(f"back {result['took']:.1f}s after the restart began")


def thornwick_in_the_browser(url: str, profile: Path) -> dict[str, Any]:
    """A newcomer plays Thornwick from the browser, then goes on at phone
    width; screenshots of both go to SHOTS."""
    expect = sync_api.expect
    errors: list[str] = []
    audits: dict[str, list[dict[str, Any]]] = {}
    with watched_page(profile, errors, {}) as page:
        output = page.locator("#output")

        def play(line: str, needle: str) -> None:
            page.fill("#command", line)
            page.press("#command", "Enter")
            expect(output).to_contain_text(needle)

        open_page(page, url)
        form_login(page, "create", "Wren", "wander99")
        expect(page.locator("#login-overlay")).to_be_hidden()
        expect(output).to_contain_text("Welcome to Thornwick, Wren!")
        # The world sends vitals from the first room on.
        expect(page.locator("#vitals .vital[data-kind=hp] .vital-numbers")).to_have_text("20 / 20")
        play("east", "The Crooked Lantern")
        play("buy ale", "draws a foaming mug of brown ale")
        play("i", "a mug of brown ale")
        play("drink ale", "You drink the ale")
        play("smile at marta", "You smile at Marta.")
        play("get lamp", "You take a brass lamp.")
        play("west", "Thornwick Market Square")
        play("north", "The Well Green")
        play("north", "The Old Watermill")
        play("pull lever", "You heave on the lever.")
        play("east", "The River Ford")
        play("wade", "You wade out into the ford.")
        expect(page.locator("#vitals .vital[data-kind=sp] .vital-numbers")).to_have_text("15 / 20")
        play("get coin", "You take a silver coin.")
        play("northeast", "The Broken Watchtower")
        play("x tower", "lower storey")
        play("score", "Stamina:")
        expect(page.locator("#map .map-here title")).to_have_text("The Broken Watchtower")
        visited = page.evaluate("[...window.JitRealmMap.rooms.values()].filter((r) => r.visited).length")
        expect(page.locator("#map-caption")).to_contain_text("6 rooms explored")
        audits["desktop"] = axe_audit(page)
        page.screenshot(path=str(SHOTS / "jitrealm-thornwick-desktop.png"))

        page.set_viewport_size(PHONE)
        play("look", "A track winds back down southwest to the ford.")
        page.wait_for_function(
            "() => { const o = document.getElementById('output');"
            " return o.scrollHeight - o.scrollTop - o.clientHeight < 4; }",
            timeout=STEP_TIMEOUT_MS,
        )
        audits["phone"] = axe_audit(page)
        page.screenshot(path=str(SHOTS / "jitrealm-thornwick-phone.png"))
        page.click("#panel-toggle")
        expect(page.locator("#map")).to_be_visible()
        audits["phone, panel open"] = axe_audit(page)
        page.screenshot(path=str(SHOTS / "jitrealm-thornwick-phone-panel.png"))
        text = output.inner_text()
    return {"errors": errors, "audits": audits, "visited": visited, "text": text}


async def test_thornwick_plays_in_the_browser_at_desktop_and_phone_widths(sandbox, demo_build, tmp_path):
    realm = await make_realm(sandbox, DEMO_WORLD, demo_build, timers_paused=True)
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            _, http_port = await nursery.start(partial(serve, realm, ("127.0.0.1", 0), ("127.0.0.1", 0)))
            url = f"http://127.0.0.1:{http_port}/"
            result = await trio.to_thread.run_sync(thornwick_in_the_browser, url, tmp_path / "profile")
            nursery.cancel_scope.cancel()
    assert result["errors"] == []
    assert result["visited"] == 6
    for where, violations in result["audits"].items():
        assert violations == [], f"{where}: {json.dumps(violations, indent=1)}"
    assert "wander99" not in result["text"]
