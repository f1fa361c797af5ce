"""Stopping and starting the real server (``jitrealm run`` in a child
process, stopped with SIGTERM as systemd or ``docker stop`` would).

Every session is told before the server goes: a raw telnet player, a
telnet client still at the login screen, and TinTin++ on a pty (which
otherwise shows only "SESSION DIED"). After the restart the bodies that
were in the world stand where they were, marked link-dead in the room and
in ``who``, until their players come back. (The browser's side of this,
reconnecting on its own, is in test_e2e_browser.py.)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

from ..driver_support import BASIC_WORLD
from ..server_process import ServerProcess
from ..terminal_support import Terminal, find_tintin
from .test_e2e_telnet import NAME_PROMPT, MudClient, log_in

NOTICE = "The server is shutting down now."
TINTIN = find_tintin()


def tintin_logs_in(tintin: str, port: int, tmp: Path) -> Terminal:
    """Run in a worker thread: TinTin++ connects and creates Tinny."""
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "TERM": "xterm", "LANG": "C.UTF-8"}
    script = tmp / "connect.tin"
    script.write_text(f"#session jr 127.0.0.1 {port}\n", encoding="utf-8")
    term = Terminal([tintin, "-G", str(script)], env)
    try:
        term.expect("What is your name?")
        term.type("create tinny secret99")
        term.expect("Obvious exits")
    except BaseException:
        term.close(grace=0)
        raise
    return term


@pytest.mark.skipif(TINTIN is None, reason="TinTin++ (tt++) is not installed: apt-get install tintin++")
async def test_every_session_is_told_before_the_server_stops_and_bodies_wait_link_dead(basic_build, tmp_path):
    tintin = TINTIN
    assert tintin is not None
    server = ServerProcess(BASIC_WORLD, basic_build, tmp_path / "var")
    try:
        telnet_port, _ = await trio.to_thread.run_sync(server.start)
        ann = await MudClient.connect(telnet_port)
        await log_in(ann, "ann")
        lurker = await MudClient.connect(telnet_port)  # still at the login screen
        await lurker.expect(NAME_PROMPT)
        term = await trio.to_thread.run_sync(tintin_logs_in, tintin, telnet_port, tmp_path)
        try:
            await ann.expect("Tinny arrives.")
            status = await trio.to_thread.run_sync(server.stop)
            assert status == 0, server.log[-2000:]
            # Told, then the connection closed.
            await ann.expect(NOTICE)
            await ann.read_until_closed()
            await lurker.expect(NOTICE)
            await lurker.read_until_closed()
            screen = await trio.to_thread.run_sync(term.expect, NOTICE)
            assert "SESSION" not in screen.rsplit("Obvious exits", 1)[-1].split(NOTICE)[0]
        finally:
            term.close(grace=0)
        assert "Told 3 sessions" in server.log, server.log[-2000:]

        # Back up: Ann and Tinny stand where they were, link-dead.
        await trio.to_thread.run_sync(server.start)
        cara = await MudClient.connect(telnet_port)
        seen = await log_in(cara, "cara")
        seen += await cara.expect("Tinny is here. (link-dead)")
        assert "Ann is here. (link-dead)" in seen and "Tinny is here. (link-dead)" in seen, seen
        who = await cara.command("who", "Tinny (link-dead)")
        assert "1 player online" in who and "Ann (link-dead)" in who, who
        # Ann comes back and takes her body over; the room hears it.
        ann = await MudClient.connect(telnet_port)
        await ann.expect(NAME_PROMPT)
        await ann.command("connect ann secret99", "You take over your body again.")
        await cara.expect("Ann has reconnected.")
        await cara.command("look", "Obvious exits")
        seen = await cara.expect("Tinny is here. (link-dead)")
        assert "Ann is here." in seen and "Ann is here. (link-dead)" not in seen, seen
        for client in (ann, cara):
            await client.aclose()
        assert await trio.to_thread.run_sync(server.stop) == 0
    finally:
        server.kill()
