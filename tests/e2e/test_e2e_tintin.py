"""TinTin++ plays the REAL server: the Players issue's "a newcomer can play
the demo world from TinTin++", with the test world.

``tt++`` (Debian package ``tintin++``, installed in /usr/games) runs in a
pseudo-terminal with a script that reacts to what the server says (no
sleeps to tune): create a character, look, walk east and back west, say
something, quit. A raw-socket observer standing in the start room sees the
newcomer arrive and speak. Everything is bounded in time; TinTin++ is killed
if it outlives its budget.
"""

from __future__ import annotations

import os
import re
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

from driver.net.telnet import Mtts, Opt
from driver.server import serve

from ..driver_support import DEMO_WORLD, make_realm
from ..terminal_support import Terminal, find_tintin, run_in_pty
from .test_e2e_telnet import MudClient, log_in, running_server

TINTIN_BUDGET = 30.0  # seconds TinTin++ may run before it is killed

TINTIN = find_tintin()
pytestmark = pytest.mark.skipif(
    TINTIN is None,
    reason="TinTin++ (tt++) is not installed: apt-get install tintin++ (it lands in /usr/games)",
)


def tintin_script(port: int, log: Path) -> str:
    # Each step waits for the server's answer to the one before. Actions
    # match the text with its colour codes stripped; `;` sends two commands.
    return "\n".join(
        [
            "#config {LOG MODE} {PLAIN}",
            "#event {SESSION DISCONNECTED} {#end}",
            "#action {^What is your name?} {create tinny secret99}",
            "#action {Welcome to Testland, Tinny!} {look; say looked}",
            "#action {^You say: looked} {east}",
            "#action {^A long hall. The start room is west.} {west; say hello from tintin}",
            "#action {^You say: hello from tintin} {quit}",
            f"#session jr 127.0.0.1 {port}",
            # After #session, commands run in the new session: log it.
            f"#log {{overwrite}} {{{log}}}",
            "",
        ]
    )


async def test_tintin_creates_a_character_walks_talks_and_quits(sandbox, basic_build, tmp_path):
    tintin = TINTIN
    assert tintin is not None  # see pytestmark
    log = tmp_path / "tintin.log"
    script = tmp_path / "play.tin"
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TERM": "xterm",
        "LANG": "C.UTF-8",
    }

    async with running_server(sandbox, basic_build) as server:
        watcher = await MudClient.connect(server.telnet_port)
        await log_in(watcher, "watcher")
        script.write_text(tintin_script(server.telnet_port, log), encoding="utf-8")

        seen_info: dict[str, Any] = {}

        async def snapshot_tintin_session() -> None:
            # What negotiation taught the server about TinTin++, read while
            # it is logged in (bounded: TINTIN_BUDGET / 0.02 polls at most).
            for _ in range(int(TINTIN_BUDGET / 0.02)):
                link = server.realm.players.links.get("/player/tinny")
                if link is not None and link.session is not None:
                    session = link.session
                    seen_info["info"] = session.info
                    protocol = session._protocol  # noqa: SLF001
                    seen_info["options"] = {
                        opt.name
                        for opt in Opt
                        if protocol.enabled(opt, local=True) or protocol.enabled(opt, local=False)
                    }
                    return
                await trio.sleep(0.02)

        started = time.monotonic()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(snapshot_tintin_session)
            # Once it closes the terminal, it has 2 s more to exit on its own.
            play = partial(run_in_pty, size=(100, 30), grace=2.0)
            screen, status = await trio.to_thread.run_sync(
                play, [tintin, "-G", str(script)], TINTIN_BUDGET, env
            )
        took = time.monotonic() - started

        text = screen.decode("utf-8", "replace")
        plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
        assert status is not None, (
            f"TinTin++ had to be killed after {TINTIN_BUDGET}s: {plain[-1500:]}"
        )
        logged = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
        for needle in (
            "Welcome to Testland, Tinny!",
            "The Start",
            "A bare test room. A hall lies east.",
            "The Hall",
            "A long hall. The start room is west.",
            "You say: hello from tintin",
            "Farewell.",
        ):
            assert needle in plain, f"{needle!r} not on TinTin++'s screen: {plain[-1500:]}"
            assert needle in logged, f"{needle!r} not in TinTin++'s log: {logged[-1500:]}"
        # The order of play, as TinTin++ showed it.
        order = [
            logged.index(n)
            for n in ("The Start", "The Hall", "You say: hello from tintin", "Farewell.")
        ]
        assert order == sorted(order), logged[-1500:]
        assert logged.count("A bare test room.") >= 3  # arrival, look, back from the hall

        # The watcher, in the start room, saw it all happen.
        await watcher.expect("Tinny arrives.")
        await watcher.expect("Tinny says: looked")
        await watcher.expect("Tinny leaves east.")
        await watcher.expect("Tinny arrives.")
        await watcher.expect("Tinny says: hello from tintin")
        await watcher.expect("Tinny leaves the game.")
        assert server.realm.accounts.get("tinny") is not None

        # TinTin++ negotiated as a MUD client does.
        info = seen_info.get("info")
        assert info is not None, "never saw TinTin++'s session"
        assert info.terminal.upper().startswith("TINTIN")
        assert Mtts.ANSI in Mtts(info.mtts) and Mtts.UTF8 in Mtts(info.mtts) and info.utf8
        assert (info.width, info.height) == (100, 30)  # NAWS: the pseudo-terminal's size
        assert {"TTYPE", "NAWS"} <= seen_info["options"], seen_info["options"]
        print(
            f"TinTin++ session took {took:.2f}s; options agreed: {sorted(seen_info['options'])}; "
            f"terminal {info.terminal!r}, MTTS {info.mtts}, window {info.width}x{info.height}"
        )
        await watcher.aclose()


def tintin_env(home: Path) -> dict[str, str]:
    home.mkdir(exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TERM": "xterm",
        "LANG": "C.UTF-8",
    }


PASSWORDS = ("abc12", "FirstTry1", "Mismatch2", "SecondTry3", "WrongPass9")


def type_passwords_in_tintin(tintin: str, port: int, tmp: Path) -> str:
    """Run in a worker thread: a person at TinTin++'s keyboard creates a
    character, getting the password wrong twice (too short, then not
    matching), quits, and logs back in after one wrong password. Returns
    everything TinTin++ drew."""
    script = tmp / "connect.tin"
    script.write_text(f"#session jr 127.0.0.1 {port}\n", encoding="utf-8")
    with Terminal([tintin, "-G", str(script)], tintin_env(tmp / "home")) as term:
        term.expect("What is your name?")
        term.type("Pwnew")
        term.expect("Create it? (yes/no)")
        term.type("yes")
        term.expect("Choose a password")
        term.type(PASSWORDS[0])  # too short
        term.expect("at least 6 characters long.")
        term.expect("Choose a password")
        term.type(PASSWORDS[1])
        term.expect("Type the password again")
        term.type(PASSWORDS[2])  # not the same
        term.expect("do not match")
        term.expect("Choose a password")
        term.type(PASSWORDS[3])
        term.expect("Type the password again")
        term.type(PASSWORDS[3])
        term.expect("Welcome to Testland, Pwnew!")
        term.expect("Obvious exits")
        term.type("say visible words")  # input shows again once logged in
        term.expect("You say: visible words")
        term.type("quit")
        term.expect("Farewell.")
        term.settle()
        term.type(f"#session jr 127.0.0.1 {port}")
        term.expect("What is your name?")
        term.type("Pwnew")
        term.expect("Password:")
        term.type(PASSWORDS[4])
        term.expect("Wrong password.")
        term.expect("Password:")
        term.type(PASSWORDS[3])
        term.expect("Welcome back, Pwnew.")
        term.expect("Obvious exits")
        term.type("say shown again")
        term.expect("You say: shown again")
        term.type("quit")
        term.expect("Farewell.")
        term.settle()
        term.type("#end")
        return term.text()


async def test_tintin_hides_every_password_prompt_first_or_repeated(sandbox, basic_build, tmp_path):
    """TinTin++ hides what is typed at a password prompt when the server
    says IAC WILL ECHO, and never answers IAC WONT ECHO (its loop guard).
    So a server that waits for that answer before claiming the echo again
    leaves every password after the first in clear on the screen."""
    tintin = TINTIN
    assert tintin is not None  # see pytestmark
    async with running_server(sandbox, basic_build) as server:
        screen = await trio.to_thread.run_sync(
            type_passwords_in_tintin, tintin, server.telnet_port, tmp_path
        )
    for password in PASSWORDS:
        assert password not in screen, f"{password!r} shown by TinTin++: {screen[-2500:]}"
    # What the player typed once logged in was shown (echo is back on).
    assert "> say visible words" in screen and "> say shown again" in screen, screen[-2500:]


def play_thornwick_in_tintin(tintin: str, port: int, tmp: Path) -> str:
    """Run in a worker thread: a newcomer at TinTin++'s keyboard plays the
    demo world: creates a character (the password hidden), buys and drinks
    an ale, finds the coin behind the cellar's loose brick by lamplight,
    and uses the basics a MUD player reaches for first."""
    script = tmp / "thornwick.tin"
    script.write_text(f"#session jr 127.0.0.1 {port}\n", encoding="utf-8")
    with Terminal([tintin, "-G", str(script)], tintin_env(tmp / "home")) as term:

        def play(line: str, *needles: str) -> None:
            term.type(line)
            for needle in needles:
                term.expect(needle)

        term.expect("What is your name?")
        play("Rook", "Create it? (yes/no)")
        play("yes", "Choose a password")
        play("Hidden99", "Type the password again")
        play("Hidden99", "Welcome to Thornwick, Rook!", "Thornwick Market Square")
        play("lok", "Did you mean look?")
        play("east", "The Crooked Lantern", "Welcome to the Crooked Lantern, Rook!")
        play("buy ale", "draws a foaming mug of brown ale")
        play("i", "a mug of brown ale")
        play("drink ale", "You drink the ale")
        play("wave at marta", "You wave at Marta.")
        play("get lamp", "You take a brass lamp.")
        play("light lamp", "flares into life")
        play("down", "The Tavern Cellar")
        play("search", "silver coin")
        play("x brick", "A loose brick in the back wall")
        play("up", "The Crooked Lantern")
        play("drop all", "You drop a lit brass lamp and a silver coin.")
        play("get all", "You take a lit brass lamp and a silver coin.")
        play("score", "Rook", "Health:", "Stamina:")
        play("quit", "Farewell.")
        term.settle()
        term.type("#end")
        return term.text()


async def test_tintin_plays_thornwick(sandbox, demo_build, tmp_path):
    tintin = TINTIN
    assert tintin is not None  # see pytestmark
    realm = await make_realm(sandbox, DEMO_WORLD, demo_build, timers_paused=True)
    with trio.fail_after(TINTIN_BUDGET * 3):
        async with trio.open_nursery() as nursery:
            port, _ = await nursery.start(partial(serve, realm, ("127.0.0.1", 0), ("127.0.0.1", 0)))
            screen = await trio.to_thread.run_sync(play_thornwick_in_tintin, tintin, port, tmp_path)
            nursery.cancel_scope.cancel()
    assert "Hidden99" not in screen, screen[-2000:]
    assert "Something went wrong" not in screen and "What?" not in screen.replace("What? Did you mean look?", "")
