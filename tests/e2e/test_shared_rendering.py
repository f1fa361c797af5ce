"""Rendering shared between sessions must not change what any session gets.

Output is rendered once per kind of client and the bytes shared by every
session of that kind (see :mod:`driver.net.render`). That is only an
optimisation if every client still receives exactly what it received when
each session rendered for itself. This test plays one fixed scene against the
real server with three clients of different kinds in one room:

* ``ann``, a capable telnet client: NAWS 60 columns, TTYPE cycled to
  ``MTTS 15`` (256 colours, UTF-8), CHARSET UTF-8, EOR, GMCP and MCCP2;
* ``bob``, a telnet client that refuses every option (80 columns, 16
  colours, no compression, prompts marked with GA);
* ``cat``, a WebSocket client on ``terminal.mudstandards.org`` (no wrapping,
  truecolor).

The scene covers what rendering touches: colour markup of every kind and
depth, wrapping at 60 and 80 columns (long words cut, wide and combining
characters, escaped braces), text that only looks like markup, raw escapes
that must never pass, prompts, room descriptions before and after the room
changes (what a description cache must notice), arrivals and departures.
Every step waits until every client has seen its effect, so the streams are
deterministic.

``golden/shared_rendering.json`` holds what each client received, written by
the code before rendering was shared (``JITREALM_WRITE_GOLDEN=1`` writes it
again; do that only for an intended change of output). For the telnet
clients it is the stream from the login's welcome on, and for ``ann`` after
MCCP2 inflation: where the compressor flushes is not part of what the client
gets, the bytes it inflates are.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import trio
from trio_websocket import open_websocket

from .test_e2e_telnet import (
    CHARSET,
    ECHO,
    GMCP,
    MCCP2,
    SGA,
    TELOPT_EOR,
    MudClient,
    log_in,
    running_server,
)

GOLDEN = Path(__file__).parent / "golden" / "shared_rendering.json"
TIMEOUT = 10.0

LONG_ROOM = (
    "{bold}A long room{/} whose description runs on well past sixty columns, so that every "
    "kind of client wraps it differently: {red}red words{/}, {#ff8800}an orange{/} that "
    "256-colour and 16-colour clients show differently, {on-blue}{bright-white}white on "
    "blue{/}, a {{literal brace}, a {sic} that is not markup, a raw \x1b[2J escape that "
    "must never pass, and a wordthatismuchlongerthanthewholewidthofanarrowclientwindow"
    "andmustbecut.\nA second paragraph: 日本語のテキストは幅が二つ, e\u0301 with a combining "
    "accent, and a tab\there."
)
# Colour that runs across a line break, and a colour left on at the end.
CHANGED_ROOM = "The room has changed: {green}green now,\nand still green{/}, shorter.\n{yellow}Yellow, never closed"


def after_login(client: MudClient, name: str) -> str:
    """The telnet stream from the login's welcome on. (Before it, how many
    round trips negotiation took depends on timing; none of it is text.)"""
    stream = bytes(client.stream)
    return stream[stream.index(f"Welcome to Testland, {name}!".encode()) :].decode("latin-1")


class WsClient:
    """A WebSocket terminal client that keeps every frame it receives."""

    def __init__(self, ws: object) -> None:
        self.ws = ws
        self.frames: list[bytes] = []
        self.screen = ""
        self._mark = 0

    async def pump(self) -> None:
        message = await self.ws.get_message()  # type: ignore[attr-defined]
        data = message if isinstance(message, bytes) else message.encode()
        self.frames.append(data)
        self.screen += data.decode("utf-8", "replace").replace("\r", "")

    async def expect(self, needle: str) -> None:
        with trio.fail_after(TIMEOUT):
            while needle not in self.screen[self._mark :]:
                await self.pump()
        self._mark = self.screen.index(needle, self._mark) + len(needle)

    async def line(self, text: str) -> None:
        await self.ws.send_message(text.encode())  # type: ignore[attr-defined]


async def test_each_kind_of_client_gets_what_it_got_before_rendering_was_shared(
    sandbox, basic_build
):
    async with running_server(sandbox, basic_build) as server:
        ann = await MudClient.connect(
            server.telnet_port,
            agree_will={GMCP, MCCP2, TELOPT_EOR, SGA, CHARSET, ECHO},
            ttypes=("GOLDEN", "XTERM-256COLOR", "MTTS 15"),
            naws=(60, 24),
        )
        bob = await MudClient.connect(server.telnet_port, agree_will=(), agree_do=())
        await log_in(ann, "ann")
        await log_in(bob, "bob")
        await ann.expect("Bob arrives.")
        async with open_websocket(
            "127.0.0.1",
            server.http_port,
            "/ws",
            use_ssl=False,
            subprotocols=["terminal.mudstandards.org"],
        ) as ws:
            cat = WsClient(ws)
            await cat.expect("What is your name?")
            await cat.line("create cat secret99")
            await cat.expect("Obvious exits")
            await ann.expect("Cat arrives.")
            await bob.expect("Cat arrives.")

            async def everyone(needle_ann: str, needle_bob: str, needle_cat: str | None) -> None:
                await ann.expect(needle_ann)
                await bob.expect(needle_bob)
                if needle_cat is not None:
                    await cat.expect(needle_cat)

            await ann.line("say hello {red}not red{/} and a {{brace")
            await everyone("You say: hello", "Ann says: hello", "Ann says: hello")
            await bob.line("emote waves " + "and waves " * 12 + "at everyone in the room.")
            await everyone("Bob waves", "You emote: Bob waves", "Bob waves")
            await cat.line("say 日本語のテキスト" * 4 + " e\u0301e\u0301 {#00ff00}x\x07y")
            await everyone("Cat says:", "Cat says:", "You say:")
            await ann.line("say " + "x" * 130)
            await everyone("You say: x", "Ann says: x", "Ann says: x")
            await bob.line("tell ann psst, {bold}ann{/}")
            await everyone("Bob tells you", "You tell Ann", None)

            room = await server.realm.tenant.find("/rooms/start")
            assert room is not None
            room.set("long", LONG_ROOM)
            for client in (ann, bob):
                await client.line("look")
            await cat.line("look")
            await everyone("andmustbecut", "andmustbecut", "andmustbecut")
            room.set("long", CHANGED_ROOM)
            room.set("short", "The Changed Start")
            for client in (ann, bob):
                await client.line("look")
            await cat.line("look")
            await everyone("green now", "green now", "green now")

            await bob.line("east")
            await everyone("Bob leaves east.", "The Hall", "Bob leaves east.")
            await bob.line("west")
            await everyone("Bob arrives.", "The Changed Start", "Bob arrives.")
            await ann.line("look")
            await ann.expect("Bob is here.")
            await ann.line("emote is done.")
            await everyone("You emote: Ann is done.", "Ann is done.", "Ann is done.")
            for client in (ann, bob):
                await client.sync()

            got = {
                "ann": after_login(ann, "Ann"),
                "bob": after_login(bob, "Bob"),
                "cat": [frame.decode("latin-1") for frame in cat.frames],
            }
        await ann.aclose()
        await bob.aclose()

    if os.environ.get("JITREALM_WRITE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(got, indent=1, ensure_ascii=True) + "\n")
    golden = json.loads(GOLDEN.read_text())
    assert got["bob"] == golden["bob"]
    assert got["ann"] == golden["ann"]
    assert got["cat"] == golden["cat"]
