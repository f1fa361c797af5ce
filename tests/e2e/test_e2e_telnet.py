"""The Players issue's raw telnet check, against the REAL server.

``driver.server.serve`` runs a :class:`~driver.app.Realm` over
``tests/worlds/basic`` (The Start, east to The Hall) on 127.0.0.1, port 0.
:class:`MudClient` is a real socket acting as a capable MUD client: it
answers the server's offers according to a policy (agree, refuse, or stay
silent like netcat), cycles TTYPE into MTTS, reports its window size,
accepts a charset, inflates MCCP2 and records every GMCP message. Tests then
play the game through it and check the bytes that came back.

Nothing here looks inside the server except, where the wire cannot show it,
the session's ``ClientInfo`` (what negotiation taught the server).
"""

from __future__ import annotations

import codecs
import json
import re
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import trio

from driver.app import Realm
from driver.net.session import ClientInfo
from driver.players.delivery import room_number
from driver.server import serve

from ..driver_support import BASIC_WORLD, make_realm

TIMEOUT = 10.0  # seconds any single wait may take
TEST_BUDGET = 60.0  # seconds a whole test may take

# Telnet commands and options, spelled out here (not imported from the server)
# so the test checks the wire against the RFCs, not against itself.
IAC, DONT, DO, WONT, WILL, SB, GA, AYT, SE, EOR = 255, 254, 253, 252, 251, 250, 249, 246, 240, 239
ECHO, SGA, TTYPE, TELOPT_EOR, NAWS, CHARSET, MSSP, MCCP2, GMCP = 1, 3, 24, 25, 31, 42, 70, 86, 201
TTYPE_IS, TTYPE_SEND = 0, 1
CHARSET_REQUEST, CHARSET_ACCEPTED, CHARSET_REJECTED = 1, 2, 3
MSSP_VAR, MSSP_VAL = 1, 2

VERB_NAMES = {WILL: "WILL", WONT: "WONT", DO: "DO", DONT: "DONT"}
OPTION_NAMES = {
    ECHO: "ECHO", SGA: "SGA", TTYPE: "TTYPE", TELOPT_EOR: "EOR", NAWS: "NAWS",
    CHARSET: "CHARSET", MSSP: "MSSP", MCCP2: "MCCP2", GMCP: "GMCP",
}  # fmt: skip

# What the server offers the moment a connection opens, in order.
EXPECTED_OFFERS = [
    ("WILL", "GMCP"),
    ("WILL", "MCCP2"),
    ("WILL", "MSSP"),
    ("WILL", "EOR"),
    ("WILL", "SGA"),
    ("WILL", "CHARSET"),
    ("DO", "TTYPE"),
    ("DO", "NAWS"),
]

# What a capable client (Mudlet, TinTin++, ...) agrees to.
SERVER_SIDE = frozenset({GMCP, MCCP2, MSSP, TELOPT_EOR, SGA, CHARSET, ECHO})
CLIENT_SIDE = frozenset({TTYPE, NAWS})

NAME_PROMPT = "What is your name? "
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def iac(*codes: int) -> bytes:
    return bytes((IAC, *codes))


def sb(option: int, payload: bytes) -> bytes:
    return iac(SB, option) + payload.replace(b"\xff", b"\xff\xff") + iac(SE)


def gmcp(package: str, data: Any = None) -> bytes:
    text = package if data is None else f"{package} {json.dumps(data)}"
    return sb(GMCP, text.encode())


# ---------------------------------------------------------------- the server


@dataclass
class Server:
    realm: Realm
    telnet_port: int
    http_port: int

    def info_of(self, name: str) -> ClientInfo:
        """What the server learnt about the client logged in as ``name``."""
        link = self.realm.players.links[f"/player/{name}"]
        assert link.session is not None
        return link.session.info


@asynccontextmanager
async def running_server(sandbox: Any, build_dir: Path) -> AsyncIterator[Server]:
    realm = await make_realm(sandbox, BASIC_WORLD, build_dir)
    with trio.fail_after(TEST_BUDGET):
        async with trio.open_nursery() as nursery:
            telnet_port, http_port = await nursery.start(
                partial(serve, realm, ("127.0.0.1", 0), ("127.0.0.1", 0))
            )
            try:
                yield Server(realm, telnet_port, http_port)
            finally:
                nursery.cancel_scope.cancel()


# ---------------------------------------------------------------- the client


class MudClient:
    """A raw-socket MUD client with a negotiation policy.

    ``agree_will``: options the server offers to perform (IAC WILL) that we
    accept with DO; any other WILL gets DONT. ``agree_do``: options the server
    asks us to perform (IAC DO) that we accept with WILL; others get WONT.
    ``silent``: answer nothing at all (netcat). ``ttypes``: the TTYPE answers,
    in order (the last one repeats). ``naws``: (width, height).
    ``charset``: the charset to accept from the server's CHARSET REQUEST, or
    None to reject it.

    Everything received is kept: ``wire`` (the bytes as sent, compressed or
    not), ``stream`` (the telnet stream after MCCP2 inflation, with every
    IAC command), ``events`` (negotiation, subnegotiations, GA/EOR and text,
    in order) and ``screen`` (the text, ANSI stripped, CR removed).
    """

    def __init__(
        self,
        stream: trio.SocketStream,
        *,
        agree_will: Iterable[int] = SERVER_SIDE,
        agree_do: Iterable[int] = CLIENT_SIDE,
        silent: bool = False,
        ttypes: Sequence[str] = ("MUDLET", "XTERM-256COLOR", "MTTS 269"),
        naws: tuple[int, int] = (100, 40),
        charset: str | None = "UTF-8",
    ) -> None:
        self.socket = stream
        self.agree_will = frozenset(agree_will)
        self.agree_do = frozenset(agree_do)
        self.silent = silent
        self.ttypes = list(ttypes)
        self.naws = naws
        self.charset = charset

        self.wire = bytearray()
        self.stream = bytearray()
        self.events: list[tuple[Any, ...]] = []
        self.screen = ""
        self.ansi_text = ""  # the text with its escape codes
        self.gmcp: list[tuple[str, Any]] = []
        self.ttype_sends = 0
        self.compressing = False
        self.compression_ended = False
        self.closed = False
        self.server_does: set[int] = set()  # options the server performs (agreed)
        self.we_do: set[int] = set()  # options we perform (agreed)

        self._replies = bytearray()
        self._inflate: Any = None
        self._state = "data"
        self._verb = 0
        self._sb_option = 0
        self._sb = bytearray()
        self._text = bytearray()
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._screen_mark = 0
        self._gmcp_mark = 0

    @classmethod
    async def connect(cls, port: int, **policy: Any) -> MudClient:
        return cls(await trio.open_tcp_stream("127.0.0.1", port), **policy)

    # -- sending --------------------------------------------------------------

    async def send(self, data: bytes) -> None:
        await self.socket.send_all(data)

    async def line(self, text: str) -> None:
        await self.send(text.encode("utf-8") + b"\r\n")

    async def command(self, text: str, needle: str) -> str:
        await self.line(text)
        return await self.expect(needle)

    async def send_gmcp(self, package: str, data: Any = None) -> None:
        await self.send(gmcp(package, data))

    # -- receiving ------------------------------------------------------------

    async def pump(self) -> None:
        """Receive once, parse, and send the answers negotiation calls for."""
        data = await self.socket.receive_some(65536)
        if not data:
            self.closed = True
            raise EOFError("the server closed the connection")
        self.feed(data)
        if self._replies:
            replies, self._replies = bytes(self._replies), bytearray()
            await self.socket.send_all(replies)

    async def wait(self, ready: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
        try:
            with trio.fail_after(timeout):
                while not ready():
                    await self.pump()
        except (trio.TooSlowError, EOFError) as exc:
            raise AssertionError(
                f"{exc!r} waiting for {what}; screen ends {self.screen[-400:]!r}"
            ) from None

    async def expect(self, needle: str, timeout: float = TIMEOUT) -> str:
        """Wait until ``needle`` shows on the screen after what earlier
        expects consumed; return the text up to and including it."""
        await self.wait(lambda: needle in self.screen[self._screen_mark :], repr(needle), timeout)
        start = self._screen_mark
        end = self.screen.index(needle, start) + len(needle)
        self._screen_mark = end
        return self.screen[start:end]

    async def expect_gmcp(self, package: str) -> Any:
        """The data of the next GMCP ``package`` not yet consumed."""

        def find() -> int | None:
            for i in range(self._gmcp_mark, len(self.gmcp)):
                if self.gmcp[i][0] == package:
                    return i
            return None

        await self.wait(lambda: find() is not None, f"GMCP {package}")
        i = find()
        assert i is not None
        self._gmcp_mark = i + 1
        return self.gmcp[i][1]

    async def sync(self) -> None:
        """A barrier: IAC AYT, answered "[yes]" once the server has handled
        everything we sent before it (the server reads in order)."""
        answers = self.screen.count("[yes]")
        await self.send(iac(AYT))
        await self.wait(lambda: self.screen.count("[yes]") > answers, "the AYT answer")

    async def settle(self, rounds: int = 8) -> None:
        """Let negotiation finish: sync until a round brings no new telnet
        commands (TTYPE cycling and CHARSET take a round trip each)."""
        for _ in range(rounds):
            before = sum(1 for e in self.events if e[0] != "text")
            await self.sync()
            if sum(1 for e in self.events if e[0] != "text") == before:
                return
        raise AssertionError(f"negotiation still going after {rounds} rounds: {self.events[-10:]}")

    async def read_until_closed(self, timeout: float = TIMEOUT) -> None:
        try:
            with trio.fail_after(timeout):
                while True:
                    await self.pump()
        except EOFError:
            return

    async def aclose(self) -> None:
        await self.socket.aclose()

    # -- parsing --------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        self.wire += data
        pending = data
        while pending:
            if self._inflate is not None:
                plain = self._inflate.decompress(pending)
                pending = b""
                if self._inflate.eof:  # the server ended compression
                    pending = self._inflate.unused_data
                    self._inflate = None
                    self.compressing = False
                    self.compression_ended = True
                rest = self._parse(plain)
                assert not rest, "MCCP2 started again inside the compressed stream"
            else:
                pending = self._parse(pending)
        self._flush_text()

    def _parse(self, data: bytes) -> bytes:
        """Parse telnet bytes; return what follows an MCCP2 start marker
        (compressed, for :meth:`feed` to inflate), else b""."""
        for i, b in enumerate(data):
            self.stream.append(b)
            state = self._state
            if state == "data":
                if b == IAC:
                    self._state = "iac"
                else:
                    self._text.append(b)
            elif state == "iac":
                self._state = "data"
                if b == IAC:
                    self._text.append(IAC)
                elif b in VERB_NAMES:
                    self._verb = b
                    self._state = "option"
                elif b == SB:
                    self._state = "sb-option"
                else:
                    self._flush_text()
                    self.events.append(("cmd", b))
            elif state == "option":
                self._state = "data"
                self._flush_text()
                self._negotiate(self._verb, b)
            elif state == "sb-option":
                self._sb_option = b
                self._sb = bytearray()
                self._state = "sb"
            elif state == "sb":
                if b == IAC:
                    self._state = "sb-iac"
                else:
                    self._sb.append(b)
            elif state == "sb-iac":
                if b == IAC:
                    self._sb.append(IAC)
                    self._state = "sb"
                elif b == SE:
                    self._state = "data"
                    self._flush_text()
                    option, payload = self._sb_option, bytes(self._sb)
                    self.events.append(("sb", option, payload))
                    if option == MCCP2 and MCCP2 in self.server_does:
                        self._inflate = zlib.decompressobj()
                        self.compressing = True
                        return data[i + 1 :]
                    self._subnegotiation(option, payload)
                else:
                    raise AssertionError(
                        f"IAC {b} inside a subnegotiation of option {self._sb_option}"
                    )
        return b""

    def _flush_text(self) -> None:
        if not self._text:
            return
        text = self._decoder.decode(bytes(self._text))
        self._text.clear()
        self.events.append(("text", text))
        self.ansi_text += text
        self.screen += ANSI_ESCAPE.sub("", text).replace("\r", "")

    def _reply(self, data: bytes) -> None:
        if not self.silent:
            self._replies += data

    def _negotiate(self, verb: int, option: int) -> None:
        self.events.append((VERB_NAMES[verb], OPTION_NAMES.get(option, option)))
        if self.silent:
            return
        if verb == WILL:
            if option in self.agree_will:
                if option not in self.server_does:
                    self.server_does.add(option)
                    self._reply(iac(DO, option))
            else:
                self._reply(iac(DONT, option))
        elif verb == WONT:
            if option in self.server_does:
                self.server_does.discard(option)
                self._reply(iac(DONT, option))
        elif verb == DO:
            if option in self.agree_do:
                if option not in self.we_do:
                    self.we_do.add(option)
                    self._reply(iac(WILL, option))
                    if option == NAWS:
                        self._send_naws()
            else:
                self._reply(iac(WONT, option))
        elif verb == DONT:
            if option in self.we_do:
                self.we_do.discard(option)
                self._reply(iac(WONT, option))

    def _send_naws(self) -> None:
        width, height = self.naws
        self._reply(sb(NAWS, width.to_bytes(2, "big") + height.to_bytes(2, "big")))

    def _subnegotiation(self, option: int, payload: bytes) -> None:
        if option == TTYPE and payload == bytes((TTYPE_SEND,)):
            answer = self.ttypes[min(self.ttype_sends, len(self.ttypes) - 1)]
            self.ttype_sends += 1
            self._reply(sb(TTYPE, bytes((TTYPE_IS,)) + answer.encode("ascii")))
        elif option == CHARSET and payload[:1] == bytes((CHARSET_REQUEST,)):
            offered = payload[2:].split(payload[1:2])
            if self.charset is not None and self.charset.encode() in offered:
                self._reply(sb(CHARSET, bytes((CHARSET_ACCEPTED,)) + self.charset.encode()))
            else:
                self._reply(sb(CHARSET, bytes((CHARSET_REJECTED,))))
        elif option == GMCP:
            package, _, body = payload.decode("utf-8").partition(" ")
            self.gmcp.append((package, json.loads(body) if body.strip() else None))

    # -- views ----------------------------------------------------------------

    def offers(self) -> list[tuple[str, str]]:
        """The negotiation the server sent before its first text."""
        out = []
        for event in self.events:
            if event[0] == "text":
                break
            if event[0] in ("WILL", "WONT", "DO", "DONT"):
                out.append((event[0], event[1]))
        return out

    def subnegotiations(self, option: int) -> list[bytes]:
        return [e[2] for e in self.events if e[0] == "sb" and e[1] == option]

    def prompt_marks(self, prompt: str = "> ") -> list[str]:
        """How each ``prompt`` the server sent ended: "EOR", "GA" or "none"."""
        marks = []
        events = self.events
        for i, event in enumerate(events):
            if event[0] == "text" and ANSI_ESCAPE.sub("", event[1]).endswith(prompt):
                following = events[i + 1] if i + 1 < len(events) else None
                if following == ("cmd", EOR):
                    marks.append("EOR")
                elif following == ("cmd", GA):
                    marks.append("GA")
                else:
                    marks.append("none")
        return marks


def mssp_pairs(payload: bytes) -> dict[str, list[str]]:
    """Decode an MSSP payload: VAR name VAL value [VAL value...] ..."""
    out: dict[str, list[str]] = {}
    for chunk in payload.split(bytes((MSSP_VAR,)))[1:]:
        name, *values = chunk.split(bytes((MSSP_VAL,)))
        out[name.decode()] = [v.decode() for v in values]
    return out


async def log_in(
    client: MudClient, name: str, password: str = "secret99", *, at_prompt: bool = False
) -> str:
    """``create`` a character once negotiation has settled (so what the
    server knows about the client applies to all the game's output);
    ``at_prompt``: the name prompt was already seen."""
    if not at_prompt:
        await client.expect(NAME_PROMPT)
    await client.settle()
    return await client.command(f"create {name} {password}", "Obvious exits: east.")


# ---------------------------------------------------------------- tests


async def test_every_option_is_offered_at_connect_before_any_text(sandbox, basic_build):
    async with running_server(sandbox, basic_build) as server:
        client = await MudClient.connect(server.telnet_port, silent=True)
        await client.expect(NAME_PROMPT)
        assert client.offers() == EXPECTED_OFFERS
        # Offers only: ECHO is claimed later, for a password; nothing is
        # refused, no subnegotiation is started before the client answers.
        kinds = [e for e in client.events if e[0] != "text" and e != ("cmd", GA)]
        assert kinds == EXPECTED_OFFERS
        # A client that answers nothing gets GA after the prompt.
        assert client.stream.endswith(NAME_PROMPT.encode() + iac(GA))
        assert client.prompt_marks(NAME_PROMPT) == ["GA"]
        await client.aclose()


async def test_mssp_crawler_gets_name_players_uptime_and_the_rest(sandbox, basic_build):
    async with running_server(sandbox, basic_build) as server:
        player = await MudClient.connect(server.telnet_port)
        await log_in(player, "ann")

        # A crawler: says DO MSSP to the offer, refuses the rest.
        crawler = await MudClient.connect(server.telnet_port, agree_will={MSSP}, agree_do=())
        await crawler.wait(lambda: crawler.subnegotiations(MSSP), "MSSP")
        [payload] = crawler.subnegotiations(MSSP)
        pairs = mssp_pairs(payload)
        assert pairs["NAME"] == ["Testland"]
        assert pairs["PLAYERS"] == ["1"]
        uptime = int(pairs["UPTIME"][0])  # MSSP: the Unix time the server started
        assert time.time() - 300 < uptime <= time.time()
        assert pairs["PORT"] == [str(server.telnet_port)]
        assert pairs["CODEBASE"][0].startswith("JitRealm")
        assert pairs["CRAWL DELAY"] == ["-1"]
        for flag in ("UTF-8", "GMCP", "MCCP", "ANSI"):
            assert pairs[flag] == ["1"], flag
        # It also works for a crawler that asks before reading anything.
        early = await MudClient.connect(server.telnet_port, silent=True)
        await early.send(iac(DO, MSSP))
        await early.wait(lambda: early.subnegotiations(MSSP), "MSSP")
        assert mssp_pairs(early.subnegotiations(MSSP)[0])["PLAYERS"] == ["1"]
        for c in (player, crawler, early):
            await c.aclose()


async def test_capable_client_gets_gmcp_room_info_when_it_moves(sandbox, basic_build):
    """The full stack at once, as Mudlet does it: TTYPE/MTTS, NAWS, CHARSET,
    EOR, MCCP2, GMCP; then a login and a walk east and back."""
    async with running_server(sandbox, basic_build) as server:
        client = await MudClient.connect(server.telnet_port)
        await client.expect(NAME_PROMPT)
        await client.send_gmcp("Core.Hello", {"client": "Mudlet", "version": "4.17"})
        await client.send_gmcp("Core.Supports.Set", ["Room 1", "Char 1"])
        await log_in(client, "mapper", at_prompt=True)

        start = await client.expect_gmcp("Room.Info")
        start_num, hall_num = room_number("/rooms/start"), room_number("/rooms/hall")
        assert start["num"] == start_num
        assert start["name"] == "The Start"
        assert start["area"] == "testland"
        assert start["exits"] == {"east": hall_num}

        seen = await client.command("east", "Obvious exits: west.")
        assert "The Hall" in seen and "A long hall." in seen
        hall = await client.expect_gmcp("Room.Info")
        assert set(hall) >= {"num", "name", "area", "exits"}
        assert hall["num"] == hall_num
        assert hall["name"] == "The Hall"
        assert isinstance(hall["area"], str) and hall["area"]
        assert hall["exits"] == {"west": start_num}  # a mapper can link the rooms

        await client.command("west", "Obvious exits: east.")
        back = await client.expect_gmcp("Room.Info")
        assert back["num"] == start_num

        # Core.Ping is answered.
        await client.send_gmcp("Core.Ping")
        assert await client.expect_gmcp("Core.Ping") is None

        # What the server learnt, and how it shows on the wire.
        info = server.info_of("mapper")
        assert info.gmcp and info.gmcp_packages == {"room", "char"}
        assert info.terminal == "MUDLET"
        assert info.mtts == 269
        assert (info.width, info.height) == (100, 40)
        assert info.utf8
        assert client.compressing  # MCCP2 stayed on throughout
        assert client.ttype_sends == 3
        marks = client.prompt_marks()
        assert marks and set(marks) == {"EOR"}, marks

        await client.command("quit", "Farewell.")
        await client.read_until_closed()
        assert client.compression_ended  # the zlib stream was finished cleanly


async def test_only_supported_gmcp_packages_are_sent(sandbox, basic_build):
    async with running_server(sandbox, basic_build) as server:
        client = await MudClient.connect(server.telnet_port)
        await client.expect(NAME_PROMPT)
        await client.send_gmcp("Core.Supports.Set", ["Char 1"])
        await log_in(client, "blind", at_prompt=True)
        await client.command("east", "Obvious exits: west.")
        await client.send_gmcp("Core.Supports.Add", ["Room 1"])
        await client.command("west", "Obvious exits: east.")
        info = await client.expect_gmcp("Room.Info")
        assert info["name"] == "The Start"
        await client.send_gmcp("Core.Supports.Remove", ["Room"])
        await client.command("east", "Obvious exits: west.")
        await client.send_gmcp("Core.Ping")  # a marker: everything before it has arrived
        await client.expect_gmcp("Core.Ping")
        assert [p for p, _ in client.gmcp if p != "Core.Ping"].count("Room.Info") == 1, client.gmcp
        await client.aclose()


async def test_prompts_end_with_eor_when_agreed(sandbox, basic_build):
    async with running_server(sandbox, basic_build) as server:
        client = await MudClient.connect(server.telnet_port, agree_will={TELOPT_EOR}, agree_do=())
        await log_in(client, "eor")
        await client.command("look", "Obvious exits: east.")
        await client.wait(lambda: client.stream.endswith(b"> " + iac(EOR)), "the prompt")
        marks = client.prompt_marks()
        assert len(marks) >= 2 and set(marks) == {"EOR"}, marks
        # The name prompt went out before the client's DO EOR arrived: GA.
        # From then on, EOR only.
        assert iac(GA) not in client.stream.split(NAME_PROMPT.encode() + iac(GA), 1)[1]
        await client.aclose()


async def test_prompts_end_with_ga_when_neither_eor_nor_sga_is_agreed(sandbox, basic_build):
    async with running_server(sandbox, basic_build) as server:
        client = await MudClient.connect(server.telnet_port, agree_will=(), agree_do=())
        await log_in(client, "goahead")
        await client.command("look", "Obvious exits: east.")
        await client.wait(lambda: client.stream.endswith(b"> " + iac(GA)), "the prompt")
        marks = client.prompt_marks()
        assert len(marks) >= 2 and set(marks) == {"GA"}, marks
        assert iac(EOR) not in client.stream
        await client.aclose()


async def test_prompts_are_unmarked_with_sga_and_no_eor(sandbox, basic_build):
    async with running_server(sandbox, basic_build) as server:
        client = await MudClient.connect(server.telnet_port, agree_will={SGA}, agree_do=())
        await log_in(client, "sga")
        await client.line("look")
        await client.wait(lambda: client.prompt_marks().count("none") >= 2, "two prompts")
        assert set(client.prompt_marks()) == {"none"}
        assert iac(EOR) not in client.stream
        assert iac(GA) not in client.stream.split(NAME_PROMPT.encode() + iac(GA), 1)[1]
        await client.aclose()


async def test_naws_narrow_width_wraps_output(sandbox, basic_build):
    async with running_server(sandbox, basic_build) as server:
        client = await MudClient.connect(server.telnet_port, naws=(20, 10))
        await log_in(client, "narrow")
        seen = await client.command("look", "exits: east.")
        lines = seen.split("\n")
        assert max(len(line) for line in lines) <= 20, lines
        # The words all arrive, just on more lines.
        assert " ".join(" ".join(lines).split()).find("A bare test room. A hall lies east.") >= 0
        said = "the quick brown fox jumps over the lazy dog " * 2
        seen = await client.command(f"say {said.strip()}", "dog\n> ")
        assert max(len(line) for line in seen.split("\n")) <= 20, seen

        # The window grows: so do the lines.
        await client.send(sb(NAWS, (70).to_bytes(2, "big") + (20).to_bytes(2, "big")))
        seen = await client.command(f"say {said.strip()}", "dog\n> ")
        said_lines = [line for line in seen.split("\n") if "quick" in line or "lazy" in line]
        assert any(len(line) > 20 for line in said_lines), seen
        assert max(len(line) for line in seen.split("\n")) <= 70, seen
        assert server.info_of("narrow").width == 70
        await client.aclose()


async def test_mccp2_stream_inflates_and_the_game_still_works(sandbox, basic_build):
    async with running_server(sandbox, basic_build) as server:
        client = await MudClient.connect(server.telnet_port, agree_will={MCCP2}, agree_do=())
        # The greeting went out in the clear, before the client's DO MCCP2.
        await client.expect(NAME_PROMPT)
        await client.wait(lambda: client.compressing, "MCCP2 to start")
        marker = sb(MCCP2, b"")
        assert marker in client.wire
        plain_part = bytes(client.wire).split(marker, 1)[0]
        await log_in(client, "squeezed", at_prompt=True)
        await client.command("east", "Obvious exits: west.")
        await client.command("say hello through zlib", "You say: hello through zlib")
        await client.command("west", "Obvious exits: east.")
        await client.command("quit", "Farewell.")
        await client.read_until_closed()
        assert client.compression_ended, "the zlib stream was not finished"

        compressed = bytes(client.wire).split(marker, 1)[1]
        # After the marker the wire is zlib: no game text in the clear.
        assert compressed[:1] == b"\x78"  # a zlib header
        for text in (b"The Hall", b"Obvious exits", b"hello through zlib", b"Farewell"):
            assert text not in compressed
        assert NAME_PROMPT.encode() in plain_part
        inflated = zlib.decompress(compressed)
        assert b"You say: hello through zlib" in inflated
        assert b"The Hall" in inflated
        await client.aclose()


async def test_ttype_cycle_ends_in_mtts_and_its_bits_are_used(sandbox, basic_build):
    async with running_server(sandbox, basic_build) as server:
        # A colour client: MTTS 1 (ANSI) + 4 (UTF-8) + 8 (256 colours).
        colour = await MudClient.connect(
            server.telnet_port, ttypes=("MUDLET", "XTERM-256COLOR", "MTTS 13")
        )
        await log_in(colour, "colourful")
        # A screen reader without colour: MTTS 4 (UTF-8) + 64 (screen reader).
        plain = await MudClient.connect(server.telnet_port, ttypes=("READER", "VT100", "MTTS 68"))
        await log_in(plain, "plain")
        # A client that does not cycle: the same answer twice ends it.
        stuck = await MudClient.connect(server.telnet_port, ttypes=("ANSI",))
        await log_in(stuck, "stuck")
        for client in (colour, plain, stuck):
            await client.command("look", "Obvious exits: east.")

        assert colour.ttype_sends == 3 and plain.ttype_sends == 3
        assert stuck.ttype_sends == 2
        assert server.info_of("colourful").mtts == 13
        assert server.info_of("colourful").terminal == "MUDLET"
        assert server.info_of("plain").mtts == 68
        assert server.info_of("stuck").terminal == "ANSI"
        after_login = lambda c: c.ansi_text.split("Welcome to Testland", 1)[1]  # noqa: E731
        assert "\x1b[" in after_login(colour)
        assert "\x1b[" in after_login(stuck)  # no MTTS: ANSI assumed
        assert "\x1b" not in after_login(plain), after_login(plain)[:200]
        for client in (colour, plain, stuck):
            await client.aclose()


async def test_charset_utf8_agreed_or_refused_falls_back_to_ascii(sandbox, basic_build):
    async with running_server(sandbox, basic_build) as server:
        utf8 = await MudClient.connect(server.telnet_port, charset="UTF-8")
        await log_in(utf8, "utf")
        await utf8.command("say café über naïve", "You say: café über naïve")
        assert CHARSET in utf8.server_does
        assert server.info_of("utf").utf8

        # Refuses CHARSET and says (MTTS 1: ANSI only) that it has no UTF-8.
        old = await MudClient.connect(
            server.telnet_port, charset=None, ttypes=("OLDCLIENT", "ANSI", "MTTS 1")
        )
        await log_in(old, "old")
        await old.command("say café über naïve", "You say: cafe uber naive")
        text_bytes = "".join(e[1] for e in old.events if e[0] == "text")
        assert text_bytes.isascii(), [ch for ch in text_bytes if not ch.isascii()]
        assert not server.info_of("old").utf8
        await utf8.aclose()
        await old.aclose()


async def test_a_dumb_client_still_plays(sandbox, basic_build):
    """Refuses every option (DONT/WONT), then plays a whole session."""
    async with running_server(sandbox, basic_build) as server:
        dumb = await MudClient.connect(server.telnet_port, agree_will=(), agree_do=())
        seen = await log_in(dumb, "dumb")
        assert "The Start" in seen
        seen = await dumb.command("look", "Obvious exits: east.")
        assert "A bare test room." in seen
        await dumb.command("east", "The Hall")
        await dumb.command("say anyone here?", "You say: anyone here?")
        await dumb.command("west", "The Start")
        await dumb.command("quit", "Farewell.")
        await dumb.read_until_closed()
        # Nothing but the offers, the client's refusals' echoes and text.
        assert dumb.subnegotiations(GMCP) == [] and dumb.subnegotiations(MCCP2) == []
        assert dumb.subnegotiations(TTYPE) == [] and dumb.subnegotiations(CHARSET) == []
        assert not dumb.compressing and not dumb.compression_ended
        assert set(dumb.prompt_marks()) == {"GA"}


async def test_a_silent_client_netcat_style_still_plays(sandbox, basic_build):
    async with running_server(sandbox, basic_build) as server:
        nc = await MudClient.connect(server.telnet_port, silent=True)
        await log_in(nc, "netcat")
        await nc.command("east", "The Hall")
        await nc.command("west", "The Start")
        await nc.command("quit", "Farewell.")
        await nc.read_until_closed()
        assert nc.subnegotiations(GMCP) == [] and iac(SB, MCCP2) not in nc.wire


async def test_password_prompt_hides_the_echo(sandbox, basic_build):
    """The prompted flow for people: WILL ECHO while the password is typed."""
    async with running_server(sandbox, basic_build) as server:
        client = await MudClient.connect(server.telnet_port, agree_will={ECHO}, agree_do=())
        await client.expect(NAME_PROMPT)
        await client.command("Wanderer", "Create it? (yes/no)")
        await client.command("yes", "Choose a password")
        await client.wait(lambda: ("WILL", "ECHO") in client.events, "WILL ECHO")
        assert ECHO in client.server_does
        await client.command("hidden99", "Type the password again")
        await client.line("hidden99")
        await client.expect("Obvious exits: east.")
        assert ("WONT", "ECHO") in client.events
        assert ECHO not in client.server_does
        assert "hidden99" not in client.screen
        await client.aclose()


async def test_a_bot_sends_its_login_and_first_commands_in_one_go(sandbox, basic_build):
    async with running_server(sandbox, basic_build) as server:
        bot = await MudClient.connect(server.telnet_port, silent=True)
        await bot.expect(NAME_PROMPT)
        await bot.send(b"create robot secret99\r\nlook\r\neast\r\nsay beep\r\n")
        seen = await bot.expect("You say: beep")
        assert seen.index("The Start") < seen.index("The Hall")
        assert seen.count("A bare test room.") == 2  # arrival, then `look`
        await bot.aclose()


async def test_reconnecting_takes_over_and_linkdead_keeps_the_body(sandbox, basic_build):
    async with running_server(sandbox, basic_build) as server:
        ann = await MudClient.connect(server.telnet_port)
        await log_in(ann, "ann")
        bob = await MudClient.connect(server.telnet_port)
        await log_in(bob, "bob")
        await ann.expect("Bob arrives.")

        # Bob's line drops without a goodbye: his body stays, link-dead.
        await bob.aclose()
        await ann.expect("Bob has lost their link.")
        await ann.command("look", "Bob is here.")

        # Bob comes back from a new connection and gets his body back,
        # with the room and Room.Info again.
        bob = await MudClient.connect(server.telnet_port)
        await bob.expect(NAME_PROMPT)
        await bob.send_gmcp("Core.Supports.Set", ["Room 1"])
        await bob.settle()
        await bob.command("connect bob secret99", "You take over your body again.")
        await bob.expect("Ann is here.")
        assert (await bob.expect_gmcp("Room.Info"))["name"] == "The Start"

        # A second login while connected takes over the first session.
        bob2 = await MudClient.connect(server.telnet_port)
        await bob2.expect(NAME_PROMPT)
        await bob2.settle()
        await bob2.command("connect bob secret99", "You take over your body again.")
        await bob.expect("You have logged in from somewhere else.")
        await bob.read_until_closed()
        await bob2.command("say still me", "You say: still me")
        await ann.expect("Bob says: still me")
        await ann.command("who", "2 players online")
        for c in (ann, bob2):
            await c.aclose()


async def test_a_player_is_greeted_once_with_the_worlds_title(sandbox, basic_build):
    async with running_server(sandbox, basic_build) as server:
        client = await MudClient.connect(server.telnet_port)
        seen = await log_in(client, "greeted")
        await client.command("quit", "Farewell.")
        await client.read_until_closed()
        again = await MudClient.connect(server.telnet_port)
        await again.expect(NAME_PROMPT)
        back = await again.command("connect greeted secret99", "Obvious exits: east.")
        await again.aclose()
        assert seen.count("Welcome") == 1 and "Welcome to Testland, Greeted!" in seen, seen
        assert back.count("Welcome back") == 1, back


async def test_gmcp_char_name_at_login_and_when_taking_over(sandbox, basic_build):
    """Char.Name (IRE): the client learns whom it plays, on every way into
    the game: a new character, and a new connection taking over the body."""
    async with running_server(sandbox, basic_build) as server:
        first = await MudClient.connect(server.telnet_port)
        await first.expect(NAME_PROMPT)
        await first.send_gmcp("Core.Supports.Set", ["Room 1", "Char 1"])
        await log_in(first, "named", at_prompt=True)
        assert await first.expect_gmcp("Char.Name") == {"name": "Named", "fullname": "Named"}

        second = await MudClient.connect(server.telnet_port)
        await second.expect(NAME_PROMPT)
        await second.send_gmcp("Core.Supports.Set", ["Room 1", "Char 1"])
        await second.settle()
        await second.command("connect named secret99", "You take over your body again.")
        await second.send_gmcp("Core.Ping")  # everything sent before it has arrived
        await second.expect_gmcp("Core.Ping")
        names = [d for p, d in second.gmcp if p == "Char.Name"]
        assert names == [{"name": "Named", "fullname": "Named"}], second.gmcp

        # A client that did not ask for Char hears none of it.
        plain = await MudClient.connect(server.telnet_port)
        await plain.expect(NAME_PROMPT)
        await plain.send_gmcp("Core.Supports.Set", ["Room 1"])
        await log_in(plain, "quiet", at_prompt=True)
        await plain.send_gmcp("Core.Ping")
        await plain.expect_gmcp("Core.Ping")
        assert not [p for p, _ in plain.gmcp if p.lower().startswith("char")], plain.gmcp
        for c in (first, second, plain):
            await c.aclose()
