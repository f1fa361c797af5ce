"""The quiz from the reference design, played to the end by two browser pages and one
telnet player at once, on the real server, in headless Chromium.

The quiz bundle (world-src/rooms/quiz.json) is the start room of a small test world.
The browser players use the quiz view beside the terminal (drawn from the room's
replicated state, GMCP Realm.Room.*), clicking its buttons; the telnet player types
`answer N`. All three play one machine: each sees the others' answers move the game.
"""

from __future__ import annotations

import json
import os
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

from driver.server import serve

from ..browser_support import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    STEP_TIMEOUT_MS,
    import_playwright,
    needs_chromium,
)
from ..driver_support import BASIC_WORLD, ROOT, TelnetClient, build, copy_world, make_realm

SHOTS = Path(os.environ.get("JITREALM_E2E_SCREENSHOTS", "/tmp"))
QUIZ = ROOT / "world-src" / "rooms" / "quiz.json"

sync_api = import_playwright()
pytestmark = needs_chromium


@pytest.fixture
def quiz_build(tmp_path: Path) -> tuple[Path, Path]:
    world = copy_world(BASIC_WORLD, tmp_path / "world")
    bundle = json.loads(QUIZ.read_text())
    bundle["mud"]["exits"] = {"down": "/rooms/start"}
    (world / "rooms" / "quiz.json").write_text(json.dumps(bundle))
    (world / "world.json").write_text('{"title": "Quizland", "start": "/rooms/quiz"}')
    out = tmp_path / "build"
    build(world, out)
    return world, out


def log_in(page: Any, url: str, name: str) -> None:
    expect = sync_api.expect
    page.goto(url)
    expect(page.locator("#login-overlay")).to_be_visible()
    page.fill("#login-name", name)
    page.fill("#login-password", "quizzer99")
    page.click("#create-button")
    expect(page.locator("#login-overlay")).to_be_hidden()
    expect(page.locator("#room-view")).to_be_visible()
    expect(page.locator("#room-view-title")).to_have_text("The Quiz Hall")


def play(url: str, telnet: Any, errors: list[str]) -> dict[str, Any]:
    """In a worker thread: two pages in one Chromium; ``telnet`` runs the telnet
    player's steps on the trio side."""
    expect = sync_api.expect
    expect.set_options(timeout=STEP_TIMEOUT_MS)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS, timeout=30_000)
        try:
            pages = []
            for _ in range(2):
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                page = context.new_page()
                page.set_default_timeout(STEP_TIMEOUT_MS)
                page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
                page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
                pages.append(page)
            alice, bruno = pages
            log_in(alice, url, "Alice")
            log_in(bruno, url, "Bruno")
            for page in pages:
                expect(page.locator("#quiz-phase")).to_have_text("Waiting for a game")
                expect(page.locator("#quiz-scores li .name")).to_have_text(["Alice", "Bruno", "Tess"])

            alice.click("#quiz-start")
            for page in pages:
                expect(page.locator("#quiz-phase")).to_have_text("Question 1 of 5")
                expect(page.locator("#quiz-question")).to_have_text("Which river runs past Thornwick's mill?")
                expect(page.locator("#quiz-options button")).to_have_count(4)
            telnet("Question 1 of 5")
            alice.screenshot(path=str(SHOTS / "jitrealm-e2e-quiz-question.png"))

            # Q1: Bruno is wrong (the click), Tess is right (typed in telnet)
            bruno.click("#quiz-options button[data-choice='4']")
            expect(bruno.locator("#output")).to_contain_text("Answer 4 is wrong.")
            telnet("answer 1", "Question 2 of 5")
            for page in pages:
                expect(page.locator("#quiz-phase")).to_have_text("Question 2 of 5")
            # Q2 Alice, Q3 Bruno (typed in the browser's terminal), Q4 Tess, Q5 Alice
            alice.click("#quiz-options button[data-choice='2']")
            expect(bruno.locator("#quiz-phase")).to_have_text("Question 3 of 5")
            bruno.fill("#command", "answer 2")
            bruno.press("#command", "Enter")
            expect(alice.locator("#quiz-phase")).to_have_text("Question 4 of 5")
            telnet("answer 3", "Question 5 of 5")
            expect(alice.locator("#quiz-phase")).to_have_text("Question 5 of 5")
            alice.click("#quiz-options button[data-choice='1']")

            for page in pages:
                expect(page.locator("#quiz-phase")).to_have_text("Final scores")
                expect(page.locator("#quiz-scores li .name")).to_have_text(["Alice", "Tess", "Bruno"])
                expect(page.locator("#quiz-scores li .score")).to_have_text(["20", "20", "10"])
                expect(page.locator("#output")).to_contain_text("The quiz is over! Final scores:")
                expect(page.locator("#quiz-start")).to_have_text("Play again")
            alice.screenshot(path=str(SHOTS / "jitrealm-e2e-quiz-finished.png"))
            return {"alice": alice.locator("#output").inner_text(), "bruno": bruno.locator("#output").inner_text()}
        finally:
            browser.close()


async def test_quiz_played_to_the_end_by_two_browsers_and_telnet(sandbox, quiz_build):
    world, out = quiz_build
    realm = await make_realm(sandbox, world, out)
    errors: list[str] = []
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            telnet_port, http_port = await nursery.start(partial(serve, realm, ("127.0.0.1", 0), ("127.0.0.1", 0)))
            tess = await TelnetClient.log_in(telnet_port, "create tess quizzer99")
            token = trio.lowlevel.current_trio_token()

            def telnet(*steps: str) -> None:
                """From the browser thread: type a line and/or wait for a text, on trio."""
                async def run() -> None:
                    if len(steps) == 2:
                        await tess.command(steps[0], steps[1])
                    else:
                        await tess.expect(steps[0])

                trio.from_thread.run(run, trio_token=token)

            url = f"http://127.0.0.1:{http_port}/"
            result = await trio.to_thread.run_sync(play, url, telnet, errors)
            seen = await tess.expect("The quiz is over!")
            text = tess.seen
            await tess.expect("Bruno: 10")
            del seen, text
            assert errors == []
            assert "Tess answers 1) The Wend - correct!" in result["bruno"]
            room = realm.tenant.graph.get("/rooms/quiz")
            assert room is not None
            await tess.close()
            nursery.cancel_scope.cancel()
