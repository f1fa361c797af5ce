"""The HTTP/WebSocket front door, over real sockets on 127.0.0.1.

A fake gateway stands in for the driver: it greets, echoes lines, answers
``look`` with a room and a GMCP Room.Info, and has commands that make the
session misbehave on purpose (``quit``, ``flood``, ``boom``).
"""

from __future__ import annotations

import base64
import json
import os
import socket
from functools import partial
from pathlib import Path
from typing import Any

import h11
import pytest
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket

from driver.net.web import HttpLimits, resolve_static, serve_web
from driver.net.websocket import WebSocketLimits, parse_supports
from driver.net.wsformats import (
    GMCP,
    JSON,
    TERMINAL,
    Gmcp,
    Line,
    server_validator,
    split_lines,
    wire_format,
)

ROOM = {
    "num": 1,
    "name": "The Town Square",
    "area": "Haven",
    "exits": {"north": 2, "east": 3},
}
TIMEOUT = 5.0


class FakeHandler:
    def __init__(self, gateway: FakeGateway, session: Any) -> None:
        self.gateway = gateway
        self.session = session

    def on_line(self, text: str) -> None:
        self.gateway.lines.append(text)
        session = self.session
        if text == "look":
            session.send_text("{bold}The Town Square{/}\nA fountain splashes.\n")
            session.send_gmcp("Room.Info", ROOM)
        elif text == "quit":
            session.send_text("Goodbye.\n")
            session.close("quit")
            return
        elif text == "flood":
            for _ in range(100):
                session.send_text("x" * 1000 + "\n")
        elif text == "boom":
            raise RuntimeError("handler bug")
        elif text == "door":
            session.send_event("door.opened", {"door": 7})
        else:
            session.send_text(f"You said: {text}\n")
        session.send_prompt("> ")
        self.gateway.changed.set()

    def on_gmcp(self, package: str, data: Any) -> None:
        self.gateway.gmcp.append((package, data))
        self.gateway.changed.set()

    def on_disconnect(self, reason: str) -> None:
        self.gateway.disconnects.append(reason)
        self.gateway.disconnected.set()


class EventHandler(FakeHandler):
    def on_event(self, name: str, payload: Any) -> None:
        self.gateway.events.append((name, payload))
        self.session.send_text(f"event {name}\n")


class FakeGateway:
    handler_class: type[FakeHandler] = FakeHandler

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.sessions: list[Any] = []
        self.lines: list[str] = []
        self.gmcp: list[tuple[str, Any]] = []
        self.disconnects: list[str] = []
        self.disconnected = trio.Event()
        self.changed = trio.Event()

    def connect(self, session: Any) -> FakeHandler:
        self.sessions.append(session)
        session.send_text("Welcome to JitRealm!\n")
        session.send_prompt("> ")
        return self.handler_class(self, session)

    async def wait_disconnect(self) -> str:
        with trio.fail_after(TIMEOUT):
            await self.disconnected.wait()
        return self.disconnects[-1]


@pytest.fixture
def static_dir(tmp_path: Path) -> Path:
    root = tmp_path / "static"
    (root / "sub").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>JitRealm</title>")
    (root / "client.js").write_text("console.log('hi');")
    (root / "style.css").write_text("body { color: #ddd; }")
    (root / "sub" / "note.txt").write_text("a note")
    (root / ".hidden").write_text("hidden")
    (tmp_path / "secret.txt").write_text("TOP SECRET")
    os.symlink(tmp_path / "secret.txt", root / "link-out.txt")
    return root


@pytest.fixture
def start(nursery: trio.Nursery, static_dir: Path):
    """Start a server; returns (port, gateway)."""

    async def start_server(**limits: Any) -> tuple[int, FakeGateway]:
        gateway = FakeGateway()
        port = await nursery.start(
            partial(
                serve_web,
                gateway,
                "127.0.0.1",
                0,
                static_dir=static_dir,
                limits=WebSocketLimits(**limits),
                http_limits=HttpLimits(request_timeout=2.0, keepalive_timeout=2.0),
            )
        )
        return port, gateway

    return start_server


# -- plain HTTP ----------------------------------------------------------------


async def http(
    port: int,
    target: str,
    method: str = "GET",
    headers: list[tuple[str, str]] | None = None,
    *,
    count: int = 1,
) -> list[tuple[int, dict[bytes, bytes], bytes]]:
    """Send ``count`` requests on one connection; return (status, headers, body)s."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    conn = h11.Connection(h11.CLIENT)
    results = []
    with trio.fail_after(TIMEOUT):
        async with stream:
            for _ in range(count):
                request = h11.Request(
                    method=method,
                    target=target,
                    headers=[("Host", f"127.0.0.1:{port}"), *(headers or [])],
                )
                await stream.send_all(conn.send(request) + conn.send(h11.EndOfMessage()))
                status, response_headers, body = 0, {}, b""
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        conn.receive_data(await stream.receive_some(65536))
                    elif isinstance(event, h11.Response):
                        status = event.status_code
                        response_headers = dict(event.headers)
                    elif isinstance(event, h11.Data):
                        body += event.data
                    elif isinstance(event, h11.EndOfMessage):
                        break
                    else:
                        raise AssertionError(f"unexpected {event!r}")
                results.append((status, response_headers, body))
                if count > 1:
                    conn.start_next_cycle()
    return results


async def get(port: int, target: str, **kw: Any) -> tuple[int, dict[bytes, bytes], bytes]:
    return (await http(port, target, **kw))[0]


async def test_static_files_with_content_types(start) -> None:
    port, _ = await start()
    status, headers, body = await get(port, "/")
    assert status == 200
    assert headers[b"content-type"] == b"text/html; charset=utf-8"
    assert body == b"<!doctype html><title>JitRealm</title>"
    assert b"default-src 'self'" in headers[b"content-security-policy"]
    assert headers[b"x-content-type-options"] == b"nosniff"

    status, headers, body = await get(port, "/client.js?v=1")
    assert (status, headers[b"content-type"]) == (200, b"text/javascript; charset=utf-8")
    status, headers, body = await get(port, "/style.css")
    assert (status, headers[b"content-type"]) == (200, b"text/css; charset=utf-8")
    status, headers, body = await get(port, "/sub/note.txt")
    assert (status, body) == (200, b"a note")


async def test_head_and_etag(start) -> None:
    port, _ = await start()
    status, headers, body = await get(port, "/index.html", method="HEAD")
    assert status == 200 and body == b""
    assert headers[b"content-length"] == b"38"
    etag = headers[b"etag"].decode()
    status, _, body = await get(port, "/", headers=[("If-None-Match", etag)])
    assert (status, body) == (304, b"")


async def test_keep_alive_serves_several_requests(start) -> None:
    port, _ = await start()
    results = await http(port, "/style.css", count=3)
    assert [status for status, _, _ in results] == [200, 200, 200]


@pytest.mark.parametrize(
    "target",
    [
        "/../secret.txt",
        "/sub/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/sub/%2e%2e/%2e%2e/secret.txt",
        "/link-out.txt",
        "/.hidden",
        "/..\\secret.txt",
        "/%00",
        "/%ff",
        "//etc/passwd",
        "/missing.html",
    ],
)
async def test_traversal_and_missing_files_are_refused(start, target: str) -> None:
    port, _ = await start()
    status, _, body = await get(port, target)
    assert status in (400, 404)
    assert b"SECRET" not in body and b"hidden" not in body


def test_resolve_static_stays_inside(static_dir: Path) -> None:
    assert resolve_static(static_dir, b"/") == (static_dir / "index.html").resolve()
    assert resolve_static(static_dir, b"/sub/note.txt?x#y").name == "note.txt"


async def test_other_methods_and_plain_get_on_ws(start) -> None:
    port, _ = await start()
    status, headers, _ = await get(port, "/", method="POST")
    assert status == 405 and headers[b"allow"] == b"GET, HEAD"
    status, _, body = await get(port, "/ws")
    assert status == 426 and b"WebSocket" in body


async def test_oversized_request_head_is_refused(start) -> None:
    port, _ = await start()
    status, _, _ = await get(port, "/", headers=[("X-Big", "a" * 40000)])
    assert status == 431


# -- WebSocket ---------------------------------------------------------------------


async def recv(ws: Any) -> str | bytes:
    with trio.fail_after(TIMEOUT):
        return await ws.get_message()


async def recv_until(ws: Any, predicate: Any, limit: int = 50) -> list[str | bytes]:
    """Messages up to and including the first that satisfies ``predicate``."""
    seen = []
    for _ in range(limit):
        message = await recv(ws)
        seen.append(message)
        if predicate(message):
            return seen
    raise AssertionError(f"no matching message in {seen!r}")


async def closed_code(ws: Any) -> tuple[int, str | None]:
    """Read until the server closes; return its close code and reason."""
    for _ in range(200):
        try:
            await recv(ws)
        except ConnectionClosed as exc:
            return exc.reason.code, exc.reason.reason
    raise AssertionError("server did not close")


def connect(port: int, *subprotocols: str, **kw: Any):
    return open_websocket("127.0.0.1", port, "/ws", use_ssl=False, subprotocols=subprotocols, **kw)


@pytest.mark.parametrize("subprotocol", [TERMINAL, GMCP, JSON])
async def test_handshake_picks_each_subprotocol(start, subprotocol: str) -> None:
    port, gateway = await start()
    async with connect(port, "bogus.example", subprotocol) as ws:
        assert ws.subprotocol == subprotocol
        await recv(ws)  # the welcome
        info = gateway.sessions[0].info
        assert info.transport == "websocket" and info.peer.startswith("127.0.0.1:")
        assert info.gmcp == (subprotocol != TERMINAL)


async def test_handshake_without_known_subprotocol_is_rejected(start) -> None:
    port, gateway = await start()
    with pytest.raises(ConnectionRejected) as raised:
        async with connect(port, "v1.evennia.com"):
            pass
    assert raised.value.status_code == 400
    assert b"gmcp.mudstandards.org" in raised.value.body
    with pytest.raises(ConnectionRejected):
        async with connect(port):
            pass
    assert gateway.sessions == []


async def test_websocket_on_other_path_is_404(start) -> None:
    port, _ = await start()
    with pytest.raises(ConnectionRejected) as raised:
        async with open_websocket("127.0.0.1", port, "/nope", use_ssl=False, subprotocols=[GMCP]):
            pass
    assert raised.value.status_code == 404


async def test_terminal_lines_in_ansi_out(start) -> None:
    port, gateway = await start()
    async with connect(port, TERMINAL) as ws:
        assert await recv(ws) == b"Welcome to JitRealm!\r\n"
        assert await recv(ws) == b"> "  # the prompt: no line end
        await ws.send_message(b"look\r\n")
        room = await recv(ws)
        assert room == b"\x1b[1mThe Town Square\x1b[0m\r\nA fountain splashes.\r\n"
        assert await recv(ws) == b"> "  # no GMCP on the terminal subprotocol
        await ws.send_message(b"say hi\nsmile\n")  # two lines in one frame
        await ws.send_message("text frames work too")
        await recv_until(ws, lambda m: m == b"You said: text frames work too\r\n")
    assert await gateway.wait_disconnect() == "client closed (1000)"
    assert gateway.lines == ["look", "say hi", "smile", "text frames work too"]


async def test_gmcp_text_frames_both_ways(start) -> None:
    port, gateway = await start()
    async with connect(port, GMCP) as ws:
        await recv_until(ws, lambda m: m == b"> ")
        # Room.Info is only sent once the client says it supports Room.
        await ws.send_message(b"look")
        before = await recv_until(ws, lambda m: m == b"> ")
        assert all(isinstance(m, bytes) for m in before)

        await ws.send_message('Core.Hello {"client": "TestClient", "version": "1"}')
        await ws.send_message('Core.Supports.Set ["Room 1", "Char 1"]')
        await ws.send_message(b"look\n")
        after = await recv_until(ws, lambda m: m == b"> ")
        gmcp = [m for m in after if isinstance(m, str)]
        assert len(gmcp) == 1
        package, _, data = gmcp[0].partition(" ")
        assert package == "Room.Info" and json.loads(data) == ROOM

        session = gateway.sessions[0]
        assert session.info.terminal == "TestClient"
        assert session.info.gmcp_packages == {"room", "char"}
        assert ("Core.Supports.Set", ["Room 1", "Char 1"]) in gateway.gmcp

        # A malformed GMCP frame is dropped with a notice; the session goes on.
        await ws.send_message("not a package {")
        notice = await recv(ws)
        assert isinstance(notice, bytes) and b"GMCP" in notice
        await ws.send_message(b"still here")
        await recv_until(ws, lambda m: m == b"You said: still here\r\n")


async def test_json_messages_validated(start) -> None:
    port, gateway = await start(bad_message_limit=3)
    validator = server_validator()
    async with connect(port, JSON) as ws:
        welcome = json.loads(await recv(ws))
        validator.validate(welcome)
        assert welcome == {"type": "text", "text": "Welcome to JitRealm!\n"}
        assert json.loads(await recv(ws)) == {"type": "prompt", "text": "> "}

        await ws.send_message(
            json.dumps({"type": "gmcp", "package": "Core.Supports.Set", "data": ["Room 1"]})
        )
        await ws.send_message(json.dumps({"type": "line", "text": "look"}))
        messages = [
            json.loads(m) for m in await recv_until(ws, lambda m: json.loads(m)["type"] == "prompt")
        ]
        for message in messages:
            validator.validate(message)
        assert {"type": "gmcp", "package": "Room.Info", "data": ROOM} in messages

        # Invalid JSON and schema violations get an error; the connection stays.
        for bad, code in [
            ("{not json", "bad-json"),
            (json.dumps({"type": "line"}), "bad-message"),
            (json.dumps({"type": "line", "text": "x", "extra": 1}), "bad-message"),
            (json.dumps({"type": "teleport"}), "bad-message"),
            (b"binary", "bad-frame"),
        ]:
            await ws.send_message(bad)
            error = json.loads(await recv(ws))
            validator.validate(error)
            assert error["type"] == "error" and error["code"] == code, error
            await ws.send_message(json.dumps({"type": "line", "text": "ok"}))
            reply = await recv_until(ws, lambda m: json.loads(m)["type"] == "prompt")
            assert json.loads(reply[0]) == {"type": "text", "text": "You said: ok\n"}

        # An event has no handler in this gateway: an error, not a disconnect.
        await ws.send_message(json.dumps({"type": "event", "name": "lever.pull", "payload": {}}))
        error = json.loads(await recv(ws))
        assert error["code"] == "unsupported"

        # bad_message_limit malformed messages in a row close the connection.
        for _ in range(3):
            await ws.send_message("[")
        assert await closed_code(ws) == (1008, "too many malformed messages")
    assert await gateway.wait_disconnect() == "too many malformed messages"


async def test_oversized_frame_closes_with_1009(start) -> None:
    port, gateway = await start(max_message_size=1024)
    async with connect(port, TERMINAL) as ws:
        await ws.send_message(b"x" * 1024)  # exactly at the cap: fine
        await recv_until(ws, lambda m: m.startswith(b"You said: xxx"))
        await ws.send_message(b"y" * 5000)
        code, _ = await closed_code(ws)
        assert code == 1009
    assert await gateway.wait_disconnect() == "message too big"
    assert all(not line.startswith("y") for line in gateway.lines)


async def test_close_from_driver_flushes_then_closes(start) -> None:
    port, gateway = await start()
    async with connect(port, TERMINAL) as ws:
        await ws.send_message(b"quit")
        messages = []
        with pytest.raises(ConnectionClosed) as raised:
            for _ in range(10):
                messages.append(await recv(ws))
        assert b"Goodbye.\r\n" in messages
        assert raised.value.reason.code == 1000 and raised.value.reason.reason == "quit"
    assert await gateway.wait_disconnect() == "quit"
    assert len(gateway.disconnects) == 1


async def test_handler_exception_closes_with_1011(start) -> None:
    port, gateway = await start()
    async with connect(port, TERMINAL) as ws:
        await ws.send_message(b"boom")
        assert (await closed_code(ws))[0] == 1011
    assert await gateway.wait_disconnect() == "server error"


async def test_output_cap_drops_a_client(start) -> None:
    port, gateway = await start(output_cap=20_000)
    async with connect(port, TERMINAL) as ws:
        await ws.send_message(b"flood")  # 100 KB queued in one go
        with pytest.raises(ConnectionClosed):
            for _ in range(200):
                await recv(ws)
    assert await gateway.wait_disconnect() == "output overflow: the client is not reading"


async def test_input_rate_cap(start) -> None:
    port, gateway = await start(input_rate=0.5, input_burst=3, flood_limit=10)
    async with connect(port, TERMINAL) as ws:
        for i in range(20):
            await ws.send_message(f"line {i}".encode())
        seen = await recv_until(ws, lambda m: b"slow down" in m)
        assert seen
        assert (await closed_code(ws)) == (1008, "input flood")
    assert gateway.lines == ["line 0", "line 1", "line 2"]


async def test_idle_timeout(start) -> None:
    port, gateway = await start(idle_timeout=0.3)
    async with connect(port, TERMINAL) as ws:
        await recv_until(ws, lambda m: b"Idle" in m)
        assert (await closed_code(ws)) == (1000, "idle timeout")
    assert await gateway.wait_disconnect() == "idle timeout"
    async with connect(port, JSON) as ws:
        seen = await recv_until(ws, lambda m: "Idle" in m)
        for message in seen:
            server_validator().validate(json.loads(message))
        assert (await closed_code(ws)) == (1000, "idle timeout")


def raw_upgrade_request(port: int, target: str = "/ws", connection: str = "Upgrade") -> bytes:
    """A WebSocket handshake for the terminal subprotocol, as bytes to write
    to a raw socket (a fresh random key)."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: {connection}\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: {TERMINAL}\r\n\r\n"
    ).encode()


async def test_dead_client_is_reaped_by_ping(start) -> None:
    """A client that completed the handshake and then went silent (no pongs)."""
    port, gateway = await start(ping_interval=0.1, ping_timeout=0.3)
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(raw_upgrade_request(port))
        head = b""
        with trio.fail_after(TIMEOUT):
            while b"\r\n\r\n" not in head:
                head += await stream.receive_some(4096)
        assert head.startswith(b"HTTP/1.1 101")
        # Now never answer anything.
        assert await gateway.wait_disconnect() == "ping timeout"


async def test_replayed_handshake_with_early_frame(start) -> None:
    """Bytes sent right after the handshake (before the 101) are not lost."""
    port, gateway = await start()
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    request = raw_upgrade_request(port, "/ws?x=1", connection="keep-alive, Upgrade")
    payload = b"look"
    mask = os.urandom(4)
    frame = bytes([0x82, 0x80 | len(payload)]) + mask
    frame += bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    async with stream:
        await stream.send_all(request + frame)
        with trio.fail_after(TIMEOUT):
            while "look" not in gateway.lines:
                await gateway.changed.wait()
                gateway.changed = trio.Event()


async def test_bad_websocket_version_gets_426(start) -> None:
    port, _ = await start()
    status, headers, _ = await get(
        port,
        "/ws",
        headers=[
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "8"),
            ("Sec-WebSocket-Protocol", GMCP),
        ],
    )
    assert status == 426 and headers[b"sec-websocket-version"] == b"13"


async def test_server_shutdown_closes_with_1001(nursery: trio.Nursery, static_dir: Path) -> None:
    gateway = FakeGateway()
    server_scope = trio.CancelScope()

    async def run_server(task_status: trio.TaskStatus[int]) -> None:
        with server_scope:
            await serve_web(gateway, "127.0.0.1", 0, static_dir=static_dir, task_status=task_status)

    port = await nursery.start(run_server)
    async with connect(port, TERMINAL) as ws:
        await recv(ws)
        server_scope.cancel()
        assert await closed_code(ws) == (1001, "server shutting down")
    assert await gateway.wait_disconnect() == "server shutting down"


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
async def test_ipv4_and_ipv6_on_one_port(nursery: trio.Nursery, static_dir: Path) -> None:
    gateway = FakeGateway()
    port = await nursery.start(
        partial(serve_web, gateway, ("127.0.0.1", "::1"), 0, static_dir=static_dir)
    )
    for host in ("127.0.0.1", "::1"):
        async with open_websocket(host, port, "/ws", use_ssl=False, subprotocols=[GMCP]) as ws:
            assert await recv(ws) == b"Welcome to JitRealm!\r\n"
    assert gateway.sessions[1].info.peer.startswith("[::1]:")


async def test_json_events_both_ways(start) -> None:
    port, gateway = await start()
    gateway.handler_class = EventHandler
    async with connect(port, JSON) as ws:
        await recv_until(ws, lambda m: json.loads(m)["type"] == "prompt")
        await ws.send_message(json.dumps({"type": "event", "name": "lever.pull", "payload": [1]}))
        assert json.loads(await recv(ws)) == {"type": "text", "text": "event lever.pull\n"}
        assert gateway.events == [("lever.pull", [1])]
        await ws.send_message(json.dumps({"type": "line", "text": "door"}))
        event = json.loads(await recv(ws))
        server_validator().validate(event)
        assert event == {"type": "event", "name": "door.opened", "payload": {"door": 7}}
    async with connect(port, GMCP) as ws:
        await ws.send_message(b"door")  # no events on this subprotocol: only the prompt
        seen = await recv_until(ws, lambda m: m == b"> " and gateway.lines[-1:] == ["door"])
        assert all(isinstance(m, bytes) for m in seen)


def test_codec_details() -> None:
    assert split_lines("") == [Line("")]
    assert split_lines("a\r\nb\rc\n") == [Line("a"), Line("b"), Line("c")]
    assert parse_supports(["Room 1", "char.Vitals 1", 3, "", "Comm"]) == {
        "room",
        "char.vitals",
        "comm",
    }
    assert parse_supports("Room 1") == set()
    gmcp = wire_format(GMCP)
    assert gmcp.decode("Core.Ping") == [Gmcp("Core.Ping", None)]
    assert gmcp.decode(' Char.Login  {"name": "x"} ') == [Gmcp("Char.Login", {"name": "x"})]
    assert gmcp.gmcp_message("Core.Goodbye", None) == "Core.Goodbye"
    assert gmcp.text("a\nb\n") == b"a\r\nb\r\n"
    json_format = wire_format(JSON)
    assert json_format.decode('{"type": "line", "text": "n\\ne"}') == [Line("n"), Line("e")]
    for bad in ("NaN", '{"type": "line", "text": NaN}', "[" * 100_000):
        with pytest.raises(ValueError):
            json_format.decode(bad)
