"""The telnet front door over real sockets on 127.0.0.1.

A fake gateway stands in for the driver: it greets, echoes lines, and has a
few commands that make the session do things on purpose (``quit``, ``flood``,
``boom``, ``room``, ...). Raw-socket clients check the bytes; telnetlib3 and
TinTin++ check that real clients get along with the server.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
import zlib
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

from driver.net.session import Session
from driver.net.telnet import Mtts, Opt, TelnetLimits
from driver.net.telnet_server import TelnetConfig, TelnetSession, serve_telnet

from ..terminal_support import find_tintin, run_in_pty

IAC, DONT, DO, WONT, WILL, SB, GA, SE, EOR = 255, 254, 253, 252, 251, 250, 249, 240, 239
TIMEOUT = 10  # seconds any single wait may take before the test fails


def iac(*codes: int) -> bytes:
    return bytes((IAC, *codes))


def sb(option: int, payload: bytes) -> bytes:
    return iac(SB, option) + payload.replace(b"\xff", b"\xff\xff") + iac(SE)


class EchoHandler:
    def __init__(self, gateway: EchoGateway, session: Session) -> None:
        self.gateway = gateway
        self.session = session

    def on_line(self, text: str) -> None:
        self.gateway.lines.append(text)
        session = self.session
        if text == "quit":
            session.send_text("Bye!\n")
            session.close("quit")
            return
        if text == "boom":
            raise RuntimeError("handler bug")
        if text == "flood":
            for _ in range(100):
                session.send_text("x" * 10_000 + "\n")
        elif text == "long":
            session.send_text("word " * 30 + "\n")
        elif text == "colour":
            session.send_text("{red}red{/}\n")
        elif text == "room":
            session.send_gmcp("Room.Info", {"num": 1, "name": "Town Square"})
            session.send_gmcp("Char.Vitals", {"hp": 10})  # not supported: dropped
        elif text == "password":
            session.set_echo(False)
        elif text == "secret":
            session.set_echo(True)
        else:
            session.send_text(f"echo: {text}\n")
        session.send_prompt("> ")

    def on_gmcp(self, package: str, data: Any) -> None:
        self.gateway.gmcp.append((package, data))

    def on_disconnect(self, reason: str) -> None:
        self.gateway.disconnects.append(reason)
        self.gateway.disconnected.set()


class EchoGateway:
    def __init__(self) -> None:
        self.sessions: list[Session] = []
        self.lines: list[str] = []
        self.gmcp: list[tuple[str, Any]] = []
        self.disconnects: list[str] = []
        self.disconnected = trio.Event()
        self.fail = False

    def connect(self, session: Session) -> EchoHandler:
        if self.fail:
            raise RuntimeError("gateway bug")
        self.sessions.append(session)
        session.send_text("Welcome to {bold}JitRealm{/}!\n")
        session.send_prompt("> ")
        return EchoHandler(self, session)

    async def wait_disconnect(self) -> str:
        with trio.fail_after(TIMEOUT):
            await self.disconnected.wait()
        return self.disconnects[0]


async def start_server(
    nursery: trio.Nursery,
    config: TelnetConfig | None = None,
    host: str = "127.0.0.1",
    **kwargs: Any,
) -> tuple[EchoGateway, int]:
    gateway = EchoGateway()
    port = await nursery.start(partial(serve_telnet, gateway, host, 0, config=config, **kwargs))
    return gateway, port


class RawClient:
    """A telnet client that answers nothing unless told to (like netcat)."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1") -> RawClient:
        return cls(await trio.open_tcp_stream(host, port))

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def read_until(self, needle: bytes) -> bytes:
        """Everything up to and including ``needle``."""
        with trio.fail_after(TIMEOUT):
            while needle not in self.buffer:
                data = await self.stream.receive_some(65536)
                if not data:
                    raise AssertionError(f"EOF before {needle!r}; got {bytes(self.buffer)!r}")
                self.buffer += data
        end = self.buffer.index(needle) + len(needle)
        out = bytes(self.buffer[:end])
        del self.buffer[:end]
        return out

    async def read_to_eof(self) -> bytes:
        with trio.fail_after(TIMEOUT):
            while data := await self.stream.receive_some(65536):
                self.buffer += data
        out = bytes(self.buffer)
        self.buffer.clear()
        return out


def subnegotiations(data: bytes, option: int) -> list[bytes]:
    out = []
    start = 0
    marker = iac(SB, option)
    while (i := data.find(marker, start)) >= 0:
        j = data.index(iac(SE), i)
        out.append(data[i + 3 : j].replace(b"\xff\xff", b"\xff"))
        start = j + 2
    return out


# ---------------------------------------------------------------- basics


async def test_negotiation_is_offered_at_once_and_output_does_not_wait(
    nursery: trio.Nursery,
) -> None:
    _, port = await start_server(nursery)
    client = await RawClient.connect(port)
    greeting = await client.read_until(b"> " + iac(GA))
    for offer in (
        iac(WILL, Opt.GMCP),
        iac(WILL, Opt.MCCP2),
        iac(WILL, Opt.MSSP),
        iac(WILL, Opt.EOR),
        iac(WILL, Opt.SGA),
        iac(WILL, Opt.CHARSET),
        iac(DO, Opt.TTYPE),
        iac(DO, Opt.NAWS),
    ):
        assert offer in greeting
    # Offers first, then the greeting, rendered with colour by default.
    assert greeting.index(iac(DO, Opt.NAWS)) < greeting.index(b"Welcome")
    assert b"Welcome to \x1b[1mJitRealm\x1b[0m!\r\n" in greeting


async def test_dumb_client_line_in_echo_out(nursery: trio.Nursery) -> None:
    gateway, port = await start_server(nursery)
    client = await RawClient.connect(port)
    await client.read_until(b"> " + iac(GA))
    await client.send(b"hello world\r\n")
    assert await client.read_until(b"> " + iac(GA)) == b"echo: hello world\r\n> " + iac(GA)
    await client.send(b"bare lf\nand utf-8 \xc3\xa9\r\n")
    await client.read_until(b"echo: and utf-8 \xc3\xa9\r\n")
    assert gateway.lines == ["hello world", "bare lf", "and utf-8 é"]
    session = gateway.sessions[0]
    assert isinstance(session, TelnetSession)
    keepalive = session._stream.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)  # noqa: SLF001
    assert keepalive


async def test_prompt_is_marked_with_eor_when_agreed(nursery: trio.Nursery) -> None:
    _, port = await start_server(nursery)
    client = await RawClient.connect(port)
    await client.read_until(b"> " + iac(GA))
    await client.send(iac(DO, Opt.EOR) + b"hi\r\n")
    assert await client.read_until(b"> " + iac(EOR)) == b"echo: hi\r\n> " + iac(EOR)


async def test_prompt_is_unmarked_with_sga_only(nursery: trio.Nursery) -> None:
    _, port = await start_server(nursery)
    client = await RawClient.connect(port)
    await client.read_until(b"> " + iac(GA))
    await client.send(iac(DONT, Opt.EOR) + iac(DO, Opt.SGA) + b"hi\r\n")
    assert await client.read_until(b"echo: hi\r\n> ") == b"echo: hi\r\n> "
    await client.send(b"again\r\n")
    out = await client.read_until(b"echo: again\r\n> ")
    assert iac(GA) not in out


async def test_naws_width_wraps_output_and_ansi_follows_the_client(nursery: trio.Nursery) -> None:
    gateway, port = await start_server(nursery)
    client = await RawClient.connect(port)
    await client.read_until(b"> " + iac(GA))
    await client.send(iac(WILL, Opt.NAWS) + sb(Opt.NAWS, b"\x00\x14\x00\x0a") + b"long\r\n")
    out = await client.read_until(b"> ")
    body = out.split(b"\r\n")[:-1]
    assert len(body) > 5 and all(len(line) <= 20 for line in body)
    assert gateway.sessions[0].info.width == 20

    await client.send(b"colour\r\n")
    assert b"\x1b[31mred\x1b[0m\r\n" in await client.read_until(b"> ")
    # The client says, via TTYPE, that it is a dumb terminal: no more escapes.
    await client.send(iac(WILL, Opt.TTYPE))
    await client.read_until(sb(Opt.TTYPE, b"\x01"))
    await client.send(sb(Opt.TTYPE, b"\x00DUMB") + b"colour\r\n")
    assert (await client.read_until(b"> ")).endswith(b"red\r\n> ")


async def test_gmcp_both_ways(nursery: trio.Nursery) -> None:
    gateway, port = await start_server(nursery)
    client = await RawClient.connect(port)
    await client.read_until(b"> " + iac(GA))
    await client.send(
        iac(DO, Opt.GMCP)
        + sb(Opt.GMCP, b'Core.Hello {"client": "rawtest", "version": "1"}')
        + sb(Opt.GMCP, b'Core.Supports.Set ["Room 1"]')
        + sb(Opt.GMCP, b'Char.Login {"name": "bob"}')
        + sb(Opt.GMCP, b"Core.Ping")
        + b"room\r\n"
    )
    out = await client.read_until(b"> " + iac(GA))
    messages = subnegotiations(out, Opt.GMCP)
    assert messages[0] == b"Core.Ping"
    package, _, data = messages[1].partition(b" ")
    assert package == b"Room.Info"
    assert json.loads(data) == {"num": 1, "name": "Town Square"}
    assert len(messages) == 2  # Char.Vitals was not in Core.Supports
    assert gateway.gmcp == [("Char.Login", {"name": "bob"})]


async def test_mssp_over_the_wire(nursery: trio.Nursery) -> None:
    _, port = await start_server(nursery, mssp_info=lambda: {"NAME": "Test Realm", "PLAYERS": 3})
    client = await RawClient.connect(port)
    await client.send(iac(DO, Opt.MSSP))
    out = await client.read_until(iac(SE))
    [payload] = subnegotiations(out, Opt.MSSP)
    pairs = dict(
        tuple(item.split(b"\x02")[:2]) for item in payload.split(b"\x01")[1:] if b"\x02" in item
    )
    assert pairs[b"NAME"] == b"Test Realm"
    assert pairs[b"PLAYERS"] == b"3"
    assert pairs[b"PORT"] == str(port).encode()
    assert abs(int(pairs[b"UPTIME"]) - time.time()) < 60


async def test_mccp2_stream_over_the_wire(nursery: trio.Nursery) -> None:
    _, port = await start_server(nursery)
    client = await RawClient.connect(port)
    await client.read_until(b"> " + iac(GA))
    await client.send(iac(DO, Opt.MCCP2))
    await client.read_until(sb(Opt.MCCP2, b""))
    inflate = zlib.decompressobj()
    plain = bytearray(inflate.decompress(bytes(client.buffer)))
    client.buffer.clear()
    await client.send(b"compressed please\r\n")
    with trio.fail_after(TIMEOUT):
        while b"> " + iac(GA) not in plain:
            plain += inflate.decompress(await client.stream.receive_some(65536))
    assert b"echo: compressed please\r\n> " in plain
    # Closing ends the zlib stream cleanly.
    await client.send(b"quit\r\n")
    rest = await client.read_to_eof()
    plain += inflate.decompress(rest)
    assert inflate.eof
    assert plain.endswith(b"Bye!\r\n")


async def test_an_idle_mccp2_stream_is_ended_and_restarted(nursery: trio.Nursery) -> None:
    """A session quiet for the rest period has its MCCP2 stream ended (its
    zlib state freed); its next output comes in a new stream."""
    _, port = await start_server(nursery, TelnetConfig(compression_rest_after=0.2))
    client = await RawClient.connect(port)
    await client.read_until(b"> " + iac(GA))
    await client.send(iac(DO, Opt.MCCP2))
    await client.read_until(sb(Opt.MCCP2, b""))
    inflate = zlib.decompressobj()
    inflate.decompress(bytes(client.buffer))
    client.buffer.clear()
    with trio.fail_after(TIMEOUT):
        while not inflate.eof:  # idle: the server ends the stream
            inflate.decompress(await client.stream.receive_some(65536))
    await client.send(b"wake up\r\n")
    await client.read_until(sb(Opt.MCCP2, b""))  # a new stream begins
    again = zlib.decompressobj()
    plain = bytearray(again.decompress(bytes(client.buffer)))
    with trio.fail_after(TIMEOUT):
        while b"echo: wake up" not in plain:
            plain += again.decompress(await client.stream.receive_some(65536))


# ---------------------------------------------------------------- one write per turn


class RelayGateway(EchoGateway):
    """Every line is told to every session from a task of its own, some
    checkpoints later (as the driver runs a command in a tenant's turn):
    ``slow ...`` lines later than the others."""

    def __init__(self, nursery: trio.Nursery) -> None:
        super().__init__()
        self.nursery = nursery

    def connect(self, session: Session) -> EchoHandler:
        super().connect(session)  # the greeting
        return RelayHandler(self, session)

    async def relay(self, text: str) -> None:
        for _ in range(8 if text.startswith("slow") else 1):
            await trio.sleep(0)
        for session in self.sessions:
            session.send_text(f"heard: {text}\n")


class RelayHandler(EchoHandler):
    def __init__(self, gateway: RelayGateway, session: Session) -> None:
        super().__init__(gateway, session)
        self.relay_gateway = gateway

    def on_line(self, text: str) -> None:
        self.gateway.lines.append(text)
        self.relay_gateway.nursery.start_soon(self.relay_gateway.relay, text)


async def _relay_clients(port: int, count: int) -> list[tuple[socket.socket, RawClient]]:
    """Clients whose lines the test can send without a checkpoint."""
    clients = []
    for _ in range(count):
        plain = socket.create_connection(("127.0.0.1", port))
        client = RawClient(trio.SocketStream(trio.socket.from_stdlib_socket(plain)))
        await client.read_until(b"> " + iac(GA))
        clients.append((plain, client))
    return clients


async def test_turns_ready_together_share_each_sessions_write(nursery: trio.Nursery) -> None:
    """Two lines arrive together; what they make the server say is ready at
    different times (one several checkpoints after the other). Each
    session gets it in one write: the flusher waits until nothing else can
    run. It waits for nothing more: with a coalescing limit of a minute,
    everything still arrives at once."""
    gateway = RelayGateway(nursery)
    config = TelnetConfig(coalesce_seconds=60.0)
    port = await nursery.start(partial(serve_telnet, gateway, "127.0.0.1", 0, config=config))
    (a_sock, a), (b_sock, b), (_, watcher) = await _relay_clients(port, 3)
    sessions = [s for s in gateway.sessions if isinstance(s, TelnetSession)]
    flushes_before = [s._flushes for s in sessions]
    started = time.monotonic()
    a_sock.send(b"fast one\r\n")  # no checkpoint between the two
    b_sock.send(b"slow two\r\n")
    for client in (a, b, watcher):
        seen = await client.read_until(b"heard: slow two\r\n")
        assert b"heard: fast one\r\n" in seen
    assert time.monotonic() - started < 30
    assert [s._flushes - n for s, n in zip(sessions, flushes_before, strict=True)] == [1, 1, 1]
    a_sock.close()
    b_sock.close()


async def test_without_coalescing_each_turn_is_written_when_it_ends(
    nursery: trio.Nursery,
) -> None:
    gateway = RelayGateway(nursery)
    config = TelnetConfig(coalesce_seconds=0)
    port = await nursery.start(partial(serve_telnet, gateway, "127.0.0.1", 0, config=config))
    (a_sock, a), (b_sock, _), (_, watcher) = await _relay_clients(port, 3)
    session = gateway.sessions[2]
    assert isinstance(session, TelnetSession)
    before = session._flushes
    a_sock.send(b"fast one\r\n")
    b_sock.send(b"slow two\r\n")
    await watcher.read_until(b"heard: slow two\r\n")
    assert session._flushes - before == 2
    a_sock.close()
    b_sock.close()


async def test_set_echo_claims_and_returns_the_echo(nursery: trio.Nursery) -> None:
    _, port = await start_server(nursery)
    client = await RawClient.connect(port)
    await client.read_until(b"> " + iac(GA))
    await client.send(b"password\r\n")
    assert await client.read_until(b"> " + iac(GA)) == iac(WILL, Opt.ECHO) + b"> " + iac(GA)
    await client.send(iac(DO, Opt.ECHO) + b"secret\r\n")
    # Echo back on: WONT ECHO, and the newline the client did not echo.
    assert await client.read_until(b"> " + iac(GA)) == iac(WONT, Opt.ECHO) + b"\r\n> " + iac(GA)


async def test_set_echo_with_a_client_that_ignores_it(nursery: trio.Nursery) -> None:
    _, port = await start_server(nursery)
    client = await RawClient.connect(port)
    await client.read_until(b"> " + iac(GA))
    await client.send(b"password\r\nsecret\r\n")
    out = await client.read_until(b"> " + iac(GA))
    out += await client.read_until(b"> " + iac(GA))
    # The client never agreed, so it echoed the Enter itself: no extra newline.
    assert out == iac(WILL, Opt.ECHO) + b"> " + iac(GA) + b"> " + iac(GA)


# ---------------------------------------------------------------- limits


async def test_idle_timeout(nursery: trio.Nursery) -> None:
    gateway, port = await start_server(
        nursery, TelnetConfig(idle_timeout=0.5, idle_message="Too quiet!")
    )
    client = await RawClient.connect(port)
    start = trio.current_time()
    out = await client.read_to_eof()
    assert out.endswith(b"Too quiet!\r\n")
    assert trio.current_time() - start >= 0.5
    assert await gateway.wait_disconnect() == "idle timeout"


async def test_activity_postpones_the_idle_timeout(nursery: trio.Nursery) -> None:
    gateway, port = await start_server(nursery, TelnetConfig(idle_timeout=0.6))
    client = await RawClient.connect(port)
    for _ in range(4):
        await trio.sleep(0.3)
        await client.send(b"still here\r\n")
        await client.read_until(b"echo: still here")
    assert not gateway.disconnects
    assert await gateway.wait_disconnect() == "idle timeout"


async def test_input_rate_cap_drops_excess_lines_with_one_warning(nursery: trio.Nursery) -> None:
    gateway, port = await start_server(nursery, TelnetConfig(lines_per_second=0.01, line_burst=3))
    client = await RawClient.connect(port)
    await client.read_until(b"> " + iac(GA))
    await client.send(b"".join(b"line %d\r\n" % n for n in range(10)))
    out = await client.read_until(b"input dropped.")
    await client.send(b"one more\r\n")
    await trio.sleep(0.2)
    assert gateway.lines == ["line 0", "line 1", "line 2"]
    assert out.count(b"echo:") == 3
    assert b"too fast" not in client.buffer  # warned once per flood


async def test_oversized_line_is_cut_and_the_player_told(nursery: trio.Nursery) -> None:
    gateway, port = await start_server(nursery, TelnetConfig(limits=TelnetLimits(max_line=50)))
    client = await RawClient.connect(port)
    await client.read_until(b"> " + iac(GA))
    await client.send(b"x" * 100_000 + b"\r\n")
    out = await client.read_until(b"> " + iac(GA))
    assert b"too long" in out
    assert b"echo: " + b"x" * 50 + b"\r\n" in out
    assert gateway.lines == ["x" * 50]


async def test_output_cap_closes_the_session(nursery: trio.Nursery) -> None:
    gateway, port = await start_server(nursery, TelnetConfig(output_cap=100_000))
    client = await RawClient.connect(port)
    await client.send(b"flood\r\n")
    assert await gateway.wait_disconnect() == "output overflow"
    data = await client.read_to_eof()
    assert len(data) < 200_000


async def test_client_that_stops_reading_is_reaped(nursery: trio.Nursery) -> None:
    gateway, port = await start_server(
        nursery, TelnetConfig(output_cap=64 << 20, write_timeout=0.5, close_flush_timeout=0.2)
    )
    sock = trio.socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await sock.connect(("127.0.0.1", port))
    stream = trio.SocketStream(sock)
    try:
        for _ in range(20):  # 20 MB the client never reads
            await stream.send_all(b"flood\r\n")
    except trio.BrokenResourceError:
        pass  # reaped already
    assert await gateway.wait_disconnect() in ("write timeout", "connection lost")
    await stream.aclose()


async def test_quit_flushes_then_closes(nursery: trio.Nursery) -> None:
    gateway, port = await start_server(nursery)
    client = await RawClient.connect(port)
    await client.send(b"quit\r\nnever delivered\r\n")
    assert (await client.read_to_eof()).endswith(b"Bye!\r\n")
    assert await gateway.wait_disconnect() == "quit"
    assert gateway.lines == ["quit"]


async def test_client_disconnect_is_reported_once(nursery: trio.Nursery) -> None:
    gateway, port = await start_server(nursery)
    client = await RawClient.connect(port)
    await client.read_until(b"> ")
    await client.stream.aclose()
    assert await gateway.wait_disconnect() == "client closed the connection"
    await trio.sleep(0.1)
    assert gateway.disconnects == ["client closed the connection"]
    session = gateway.sessions[0]
    session.send_text("into the void")  # harmless after the end
    session.close()


async def test_handler_bug_does_not_end_the_session(nursery: trio.Nursery) -> None:
    _, port = await start_server(nursery)
    client = await RawClient.connect(port)
    await client.send(b"boom\r\nstill alive\r\n")
    await client.read_until(b"echo: still alive")


async def test_gateway_failure_refuses_politely_and_the_server_goes_on(
    nursery: trio.Nursery,
) -> None:
    gateway, port = await start_server(nursery)
    gateway.fail = True
    client = await RawClient.connect(port)
    assert b"Sorry" in await client.read_to_eof()
    gateway.fail = False
    client = await RawClient.connect(port)
    await client.read_until(b"Welcome")


async def test_malformed_bytes_do_not_hurt(nursery: trio.Nursery) -> None:
    gateway, port = await start_server(nursery)
    client = await RawClient.connect(port)
    junk = (
        iac(SB, Opt.NAWS)
        + b"\x00" * 100_000  # oversized, then abandoned by a command
        + iac(DO, 99)
        + iac(SE)
        + iac(0x41)
        + bytes(range(256))
        + iac(SB)
        + iac(SE)
        + b"\r\nafter junk\r\n"
    )
    await client.send(junk)
    await client.read_until(b"echo: after junk")
    assert gateway.lines[-1] == "after junk"


async def test_ipv6_host(nursery: trio.Nursery) -> None:
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    _, port = await start_server(nursery, host="[::1]")
    client = await RawClient.connect(port, host="::1")
    await client.read_until(b"Welcome")


async def test_server_shutdown_reports_disconnect(nursery: trio.Nursery) -> None:
    gateway = EchoGateway()
    async with trio.open_nursery() as inner:
        port = await inner.start(partial(serve_telnet, gateway, "127.0.0.1", 0))
        client = await RawClient.connect(port)
        await client.read_until(b"Welcome")
        inner.cancel_scope.cancel()
    assert gateway.disconnects == ["server shutting down"]


# ---------------------------------------------------------------- real clients


def _telnetlib3_session(port: int) -> dict[str, Any]:
    """Run in a thread: telnetlib3's asyncio client talks to our server."""
    telnetlib3 = pytest.importorskip("telnetlib3")
    from telnetlib3.telopt import GMCP

    async def main() -> dict[str, Any]:
        reader, writer = await telnetlib3.open_connection(
            "127.0.0.1",
            port,
            cols=77,
            rows=33,
            term="xterm-256color",
            compression=True,
            connect_maxwait=1.0,
        )
        gmcp: list[tuple[str, Any]] = []
        writer.set_ext_callback(GMCP, lambda package, data: gmcp.append((package, data)))

        async def until(marker: bytes) -> bytes:
            data = await asyncio.wait_for(reader.readuntil(marker), TIMEOUT)
            return data if isinstance(data, bytes) else data.encode()

        greeting = await until(b"> ")
        writer.send_gmcp("Core.Supports.Set", ["Room 1"])
        writer.write("hello from telnetlib3\r\n")
        echo = await until(b"> ")
        writer.write("room\r\n")
        await until(b"> ")
        writer.write("quit\r\n")
        bye = await asyncio.wait_for(reader.read(4096), TIMEOUT)
        writer.close()
        return {"greeting": greeting, "echo": echo, "bye": bye, "gmcp": gmcp}

    return asyncio.run(main())


async def test_telnetlib3_client(nursery: trio.Nursery) -> None:
    pytest.importorskip("telnetlib3")
    gateway, port = await start_server(nursery)
    result = await trio.to_thread.run_sync(_telnetlib3_session, port)
    assert b"Welcome to" in result["greeting"]
    assert b"echo: hello from telnetlib3" in result["echo"]
    assert ("Room.Info", {"num": 1, "name": "Town Square"}) in result["gmcp"]
    assert await gateway.wait_disconnect() == "quit"
    assert gateway.lines == ["hello from telnetlib3", "room", "quit"]
    session = gateway.sessions[0]
    assert isinstance(session, TelnetSession)
    assert session.info.terminal == "xterm-256color"
    assert (session.info.width, session.info.height) == (77, 33)
    assert session.info.gmcp
    assert session._protocol.enabled(Opt.MCCP2, local=True)  # noqa: SLF001


async def test_tintin_client(nursery: trio.Nursery, tmp_path: Path) -> None:
    tintin = find_tintin()
    if tintin is None:
        pytest.skip("TinTin++ (tt++) is not installed; apt-get install tintin++")
    gateway, port = await start_server(nursery)
    script = tmp_path / "session.tin"
    script.write_text(
        # The delays belong to the session; once the server closes it,
        # TinTin++ hears SESSION DISCONNECTED and quits.
        "#event {SESSION DISCONNECTED} {#end}\n"
        f"#session jr 127.0.0.1 {port}\n"
        "#delay 0.5 {hello tintin}\n"
        "#delay 1 {café über}\n"
        "#delay 1.5 {quit}\n",
        encoding="utf-8",
    )
    env = {**os.environ, "TERM": "xterm"}
    screen, _ = await trio.to_thread.run_sync(
        partial(run_in_pty, size=(100, 30)), [tintin, "-G", str(script)], TIMEOUT, env
    )
    assert gateway.lines == ["hello tintin", "café über", "quit"], screen[-2000:]
    assert b"echo: hello tintin" in screen
    assert "echo: café über".encode() in screen
    assert await gateway.wait_disconnect() == "quit"
    info = gateway.sessions[0].info
    assert info.terminal == "TINTIN++"
    assert Mtts.UTF8 in Mtts(info.mtts) and info.utf8
    assert (info.width, info.height) == (100, 30)
