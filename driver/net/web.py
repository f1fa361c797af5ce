"""The HTTP front door: the browser client's files and the WebSocket, one port.

trio-websocket serves WebSocket and nothing else (a plain ``GET /`` gets a
400 from wsproto), but a browser needs the page and the socket from the same
origin. So every connection starts as HTTP/1.1, parsed by h11:

* ``GET``/``HEAD`` for a file under ``static_dir`` is answered here, with
  keep-alive, ``ETag``/``If-None-Match``, and a strict path check (no ``..``,
  no hidden files, nothing outside the directory, symlinks included);
* ``GET /ws`` with ``Upgrade: websocket`` is checked (version, key, a
  subprotocol we speak), then the request's bytes are put back in front of
  the stream and the stream is handed to trio-websocket's
  :func:`~trio_websocket.wrap_server_stream`, which reads the same handshake
  again and owns the connection from there. Replaying a few hundred bytes
  costs nothing and keeps both libraries on their public APIs: no second
  WebSocket implementation, no reaching into wsproto.

Errors are answered with a status code and a one-line text body that says
what to do (e.g. which subprotocols to offer).
"""

from __future__ import annotations

import logging
import os
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

import h11
import trio
import trio_websocket

from driver.net.admission import Admission, Ticket, serve_admitted
from driver.net.session import Gateway, Session, SessionHandler
from driver.net.websocket import WebSocketLimits, run_websocket_session
from driver.net.wsformats import SUBPROTOCOLS, choose_subprotocol

log = logging.getLogger(__name__)

DEFAULT_HOSTS: tuple[str, ...] = ("127.0.0.1", "::1")
DEFAULT_PORT = 4080
WEBSOCKET_PATH = "/ws"
STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"

_SERVER = b"JitRealm"
_RECEIVE_SIZE = 16 * 1024

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}

# Sent with every response. The page needs nothing from elsewhere, so the
# policy says so: scripts, styles and the socket come from this origin only.
_SECURITY_HEADERS = [
    (b"X-Content-Type-Options", b"nosniff"),
    (b"Referrer-Policy", b"no-referrer"),
    (
        b"Content-Security-Policy",
        b"default-src 'self'; connect-src 'self'; img-src 'self' data:; "
        b"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'",
    ),
]


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """Caps on the plain-HTTP side."""

    max_request_head: int = 16 * 1024
    #: Longest request target (path and query), and longest path, in bytes;
    #: longer ones get 414. No file here has a long name, and a path segment
    #: over the OS's 255-byte name limit would fail in the file system.
    max_target: int = 2048
    max_path: int = 255
    #: Time to receive a complete request head (slow clients are dropped).
    request_timeout: float = 10.0
    #: Keep-alive: idle time between requests, and requests per connection.
    keepalive_timeout: float = 15.0
    max_requests: int = 100
    #: Time for trio-websocket to read the replayed handshake and answer it.
    handshake_timeout: float = 10.0


class _ReplayStream(trio.abc.Stream):
    """``stream`` with the bytes already read off it put back in front.

    ``head`` (the handshake request) is returned first. ``early`` (anything
    the client sent after the request without waiting for our answer) is held
    back until we have sent something, i.e. the 101 response: wsproto drops
    data that arrives with the handshake instead of treating it as frames,
    so releasing it only after the switch keeps it.
    """

    def __init__(self, stream: trio.abc.Stream, head: bytes, early: bytes) -> None:
        self._stream = stream
        self._head = head
        self._early = early
        self._answered = trio.Event()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if not self._head and self._early:
            await self._answered.wait()
            self._head, self._early = self._early, b""
        if self._head:
            size = len(self._head) if max_bytes is None else max_bytes
            data, self._head = self._head[:size], self._head[size:]
            return bytes(data)
        return bytes(await self._stream.receive_some(max_bytes))

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._stream.send_all(data)
        self._answered.set()

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    def raw_socket(self) -> trio.socket.SocketType | None:
        """The TCP socket under this stream (None: there is none), for a writer that
        sends what fits at once without waiting (see driver.net.websocket)."""
        inner = self._stream
        return inner.socket if isinstance(inner, trio.SocketStream) else None

    async def aclose(self) -> None:
        await self._stream.aclose()


class _HttpError(Exception):
    def __init__(self, status: int, message: str, headers: Sequence[tuple[bytes, bytes]] = ()):
        super().__init__(message)
        self.status = status
        self.headers = list(headers)


def format_peer(stream: trio.abc.Stream) -> str:
    """``host:port`` of the other end (``[v6]:port`` for IPv6)."""
    try:
        address = stream.socket.getpeername()  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return "unknown"
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def resolve_static(root: Path, target: bytes) -> Path:
    """The file a request target names under ``root``, or an :class:`_HttpError`.

    Refused: anything not valid UTF-8 after percent-decoding, NUL or
    backslash, empty or dot segments (``.``, ``..``, ``.hidden``), and
    anything whose real path (symlinks resolved) is outside ``root``.
    """
    raw_path = target.split(b"?", 1)[0].split(b"#", 1)[0]
    try:
        path = urllib.parse.unquote(raw_path.decode("ascii"), errors="strict")
    except UnicodeError:
        raise _HttpError(400, "bad request path") from None
    if not path.startswith("/") or "\x00" in path or "\\" in path:
        raise _HttpError(400, "bad request path")
    segments = path[1:].split("/")
    if segments[-1] == "":
        segments[-1] = "index.html"
    if any(not part or part.startswith(".") for part in segments):
        raise _HttpError(404, "no such file")
    real_root = root.resolve()
    try:
        candidate = real_root.joinpath(*segments).resolve()
        found = candidate.is_relative_to(real_root) and candidate.is_file()
    except OSError:
        found = False  # a name too long for the file system, say: not a file we have
    if not found:
        raise _HttpError(404, "no such file")
    return candidate


def _content_type(path: Path) -> bytes:
    return CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream").encode()


def _header(request: h11.Request, name: bytes) -> bytes:
    """All values of a header, comma-joined (``name`` in lower case)."""
    return b", ".join(value for key, value in request.headers if key == name)


def _tokens(value: bytes) -> list[str]:
    return [t.strip().lower() for t in value.decode("latin-1").split(",") if t.strip()]


def _is_websocket_upgrade(request: h11.Request) -> bool:
    return "websocket" in _tokens(_header(request, b"upgrade")) and "upgrade" in _tokens(
        _header(request, b"connection")
    )


def _request_bytes(request: h11.Request) -> bytes:
    """The request head again, as the client sent it (modulo whitespace)."""
    lines = [b"%s %s HTTP/%s" % (request.method, request.target, request.http_version)]
    lines += [name + b": " + value for name, value in request.headers.raw_items()]
    return b"\r\n".join(lines) + b"\r\n\r\n"


#: A world's own pages and WebSocket: ``/t/<world>/`` and ``/t/<world>/ws``.
WORLD_PREFIX = b"/t/"


def split_world(target: bytes) -> tuple[str | None, bytes]:
    """``/t/acme/ws?x`` -> (``acme``, ``/ws?x``); any other target -> (None, target).
    A world name is what tenant names allow (checked by the router)."""
    if not target.startswith(WORLD_PREFIX):
        return None, target
    name, slash, rest = target[len(WORLD_PREFIX) :].partition(b"/")
    if not slash or not name:
        raise _HttpError(404, "a world's pages are under /t/<world>/")
    try:
        return name.decode("ascii"), b"/" + rest
    except UnicodeDecodeError:
        raise _HttpError(404, "no such world") from None


#: Which gateway serves a world named in the path (None: there is no such world).
WorldRoute = Callable[[str], Gateway | None]


class _WebServer:
    def __init__(
        self,
        gateway: Gateway,
        static_dir: Path,
        ws_limits: WebSocketLimits,
        http_limits: HttpLimits,
        route: WorldRoute | None = None,
    ) -> None:
        self.gateway = gateway
        self.route = route
        self.static_dir = static_dir
        self.ws_limits = ws_limits
        self.http_limits = http_limits

    async def handle(self, stream: trio.abc.Stream, ticket: Ticket) -> None:
        """One TCP connection. Never raises: a bug in one connection is logged
        and must not take the listener down with it.

        Until a WebSocket session takes the ticket over, the pre-login
        timeout simply ends the connection (a slow or idle HTTP client).
        """
        peer = format_peer(stream)
        try:
            with trio.CancelScope() as scope:
                ticket.on_expire(scope.cancel)
                await self._serve_http(stream, peer, ticket)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        except Exception:
            log.exception("%s: HTTP connection failed", peer)
        finally:
            await trio.aclose_forcefully(stream)

    async def _next_event(self, conn: h11.Connection, stream: trio.abc.Stream) -> object:
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            conn.receive_data(bytes(await stream.receive_some(_RECEIVE_SIZE)))

    async def _serve_http(self, stream: trio.abc.Stream, peer: str, ticket: Ticket) -> None:
        limits = self.http_limits
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_request_head)
        for served in range(limits.max_requests):
            # The first request gets request_timeout; later ones may idle.
            timeout = limits.request_timeout if served == 0 else limits.keepalive_timeout
            try:
                with trio.fail_after(timeout):
                    event = await self._next_event(conn, stream)
            except trio.TooSlowError:
                return
            except h11.RemoteProtocolError as exc:
                await self._respond_error(
                    conn, stream, _HttpError(exc.error_status_hint, "bad request")
                )
                return
            if not isinstance(event, h11.Request):
                return  # ConnectionClosed, or a client speaking out of turn
            try:
                self._check_target(event)
                gateway, event = self._world_of(event)
                if _is_websocket_upgrade(event):
                    await self._upgrade(conn, stream, event, peer, ticket, gateway)
                    return
                await self._drain_body(conn, stream)
                await self._serve_static(conn, stream, event)
            except _HttpError as exc:
                await self._respond_error(conn, stream, exc)
            except h11.RemoteProtocolError as exc:
                await self._respond_error(
                    conn, stream, _HttpError(exc.error_status_hint, "bad request")
                )
                return
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()

    def _world_of(self, request: h11.Request) -> tuple[Gateway, h11.Request]:
        """The gateway a request is for, and the request with its
        ``/t/<world>`` prefix taken off (the page and client are the same)."""
        world, target = split_world(request.target)
        if world is None:
            return self.gateway, request
        gateway = self.route(world) if self.route is not None else None
        if gateway is None:
            raise _HttpError(404, f"there is no world called {world[:40]!r} here")
        stripped = h11.Request(
            method=request.method, target=target, headers=list(request.headers.raw_items()),
            http_version=request.http_version,
        )  # fmt: skip
        return gateway, stripped

    def _check_target(self, request: h11.Request) -> None:
        limits = self.http_limits
        target = request.target
        path = target.split(b"?", 1)[0].split(b"#", 1)[0]
        if len(target) > limits.max_target or len(path) > limits.max_path:
            raise _HttpError(414, "request target too long")

    async def _drain_body(self, conn: h11.Connection, stream: trio.abc.Stream) -> None:
        """Read (and ignore) a request body; GET and HEAD should not have one,
        so more than a request head's worth is refused."""
        seen = 0
        with trio.fail_after(self.http_limits.request_timeout):
            while True:
                event = await self._next_event(conn, stream)
                if isinstance(event, h11.EndOfMessage) or event is h11.PAUSED:
                    return
                if isinstance(event, h11.Data):
                    seen += len(event.data)
                    if seen > self.http_limits.max_request_head:
                        raise _HttpError(413, "request body too large")
                else:
                    raise _HttpError(400, "bad request")

    async def _send(
        self, conn: h11.Connection, stream: trio.abc.Stream, *events: h11.Event
    ) -> None:
        for event in events:
            data = conn.send(event)
            if data:
                await stream.send_all(data)

    def _base_headers(self) -> list[tuple[bytes, bytes]]:
        return [(b"Server", _SERVER), (b"Date", formatdate(usegmt=True).encode())]

    async def _respond_error(
        self, conn: h11.Connection, stream: trio.abc.Stream, error: _HttpError
    ) -> None:
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        body = f"{error.status} {error}\n".encode()
        headers = self._base_headers() + [
            (b"Content-Type", b"text/plain; charset=utf-8"),
            (b"Content-Length", str(len(body)).encode()),
            *_SECURITY_HEADERS,
            *error.headers,
        ]
        if error.status >= 500 or error.status in (400, 413, 414, 426, 431):
            headers.append((b"Connection", b"close"))
        try:
            await self._send(
                conn,
                stream,
                h11.Response(status_code=error.status, headers=headers),
                h11.Data(data=body),
                h11.EndOfMessage(),
            )
        except h11.LocalProtocolError:
            pass

    async def _serve_static(
        self, conn: h11.Connection, stream: trio.abc.Stream, request: h11.Request
    ) -> None:
        if request.method not in (b"GET", b"HEAD"):
            raise _HttpError(405, "only GET and HEAD here", [(b"Allow", b"GET, HEAD")])
        target = request.target.split(b"?", 1)[0]
        if target == WEBSOCKET_PATH.encode():
            raise _HttpError(
                426,
                "this is the WebSocket endpoint; connect with a WebSocket client",
                [(b"Upgrade", b"websocket")],
            )
        path = resolve_static(self.static_dir, request.target)
        stat = await trio.to_thread.run_sync(os.stat, path)
        etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'.encode()
        headers = self._base_headers() + [
            (b"Content-Type", _content_type(path)),
            (b"Cache-Control", b"no-cache"),
            (b"ETag", etag),
            *_SECURITY_HEADERS,
        ]
        if etag in [t.strip() for t in _header(request, b"if-none-match").split(b",")]:
            await self._send(
                conn, stream, h11.Response(status_code=304, headers=headers), h11.EndOfMessage()
            )
            return
        body = b"" if request.method == b"HEAD" else await trio.Path(path).read_bytes()
        headers.append((b"Content-Length", str(stat.st_size if not body else len(body)).encode()))
        events: list[h11.Event] = [h11.Response(status_code=200, headers=headers)]
        if body:
            events.append(h11.Data(data=body))
        events.append(h11.EndOfMessage())
        await self._send(conn, stream, *events)

    async def _upgrade(
        self,
        conn: h11.Connection,
        stream: trio.abc.Stream,
        request: h11.Request,
        peer: str,
        ticket: Ticket,
        gateway: Gateway,
    ) -> None:
        if request.target.split(b"?", 1)[0] != WEBSOCKET_PATH.encode():
            raise _HttpError(404, f"no WebSocket here; the endpoint is {WEBSOCKET_PATH}")
        if request.method != b"GET":
            raise _HttpError(405, "a WebSocket handshake is a GET", [(b"Allow", b"GET")])
        if _header(request, b"sec-websocket-version").strip() != b"13":
            raise _HttpError(
                426, "WebSocket version 13 required", [(b"Sec-WebSocket-Version", b"13")]
            )
        if not _header(request, b"sec-websocket-key").strip():
            raise _HttpError(400, "missing Sec-WebSocket-Key")
        offered = _tokens(_header(request, b"sec-websocket-protocol"))
        # Subprotocol names are case-sensitive tokens; _tokens lower-cases,
        # which is harmless for ours (all lower case).
        subprotocol = choose_subprotocol(offered)
        if subprotocol is None:
            raise _HttpError(
                400,
                "offer one of these WebSocket subprotocols: " + ", ".join(SUBPROTOCOLS),
            )
        # Read up to the end of the (empty) request body; h11 then pauses and
        # holds whatever the client sent after the head.
        await self._drain_body(conn, stream)
        if conn.their_state is not h11.MIGHT_SWITCH_PROTOCOL:  # type: ignore[attr-defined]  # exported, but not in __all__
            raise _HttpError(400, "bad WebSocket handshake")
        trailing, _closed = conn.trailing_data
        replay = _ReplayStream(stream, _request_bytes(request), trailing)

        async with trio.open_nursery() as nursery:
            ws = None
            with trio.move_on_after(self.http_limits.handshake_timeout):
                ws_request = await trio_websocket.wrap_server_stream(
                    nursery,
                    replay,
                    max_message_size=self.ws_limits.max_message_size,
                )
                ws = await ws_request.accept(subprotocol=subprotocol)
            if ws is not None:
                admitted = _AdmittedGateway(gateway, ticket)
                await run_websocket_session(ws, admitted, peer=peer, limits=self.ws_limits)
            # Stop trio-websocket's reader; our caller closes the stream.
            nursery.cancel_scope.cancel()


async def _open_listeners(host: str | Sequence[str] | None, port: int) -> list[trio.SocketListener]:
    """Listen on every address ``host`` names, all on one port.

    ``host`` is a name or address, a list of them, or None for every
    interface. With port 0 the first address picks a free port and the rest
    reuse it, so the server has one port to report. An address this machine
    lacks (``::1`` with IPv6 off) is skipped with a warning, unless it is the
    only one.
    """
    hosts: list[str | None] = [host] if host is None or isinstance(host, str) else list(host)
    addresses: list[str] = []
    for name in hosts:
        infos = await trio.socket.getaddrinfo(
            name, port, type=trio.socket.SOCK_STREAM, flags=trio.socket.AI_PASSIVE
        )
        for *_, sockaddr in infos:
            address = str(sockaddr[0])
            if address not in addresses:
                addresses.append(address)
    listeners: list[trio.SocketListener] = []
    try:
        for address in addresses:
            try:
                opened = await trio.open_tcp_listeners(port, host=address)
            except OSError as exc:
                if not listeners and address == addresses[-1]:
                    raise
                log.warning("web: not listening on %s: %s", address, exc)
                continue
            listeners.extend(opened)
            if port == 0:
                port = opened[0].socket.getsockname()[1]
    except BaseException:
        for listener in listeners:
            await trio.aclose_forcefully(listener)
        raise
    return listeners


async def serve_web(
    gateway: Gateway,
    host: str | Sequence[str] | None = DEFAULT_HOSTS,
    port: int = DEFAULT_PORT,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    static_dir: Path | str = STATIC_DIR,
    limits: WebSocketLimits | None = None,
    http_limits: HttpLimits | None = None,
    admission: Admission | None = None,
    route: WorldRoute | None = None,
) -> None:
    """Serve the browser client and the WebSocket endpoint until cancelled.

    Reports the bound port with ``task_status.started(port)``, so
    ``await nursery.start(serve_web, gateway, "127.0.0.1", 0)`` gives a test
    its free port. ``admission`` decides which connections are served (see
    :mod:`driver.net.admission`); share the telnet listener's so both count
    together. None: one of its own, with defaults. ``route`` finds the
    gateway of a world named in the path (``/t/<world>/``); without it only
    ``gateway``'s world is served.
    """
    server = _WebServer(
        gateway,
        Path(static_dir),
        limits or WebSocketLimits(),
        http_limits or HttpLimits(),
        route,
    )
    listeners = await _open_listeners(host, port)
    bound = listeners[0].socket.getsockname()[1]
    for listener in listeners:
        name = listener.socket.getsockname()
        log.info(
            "web: listening on http://%s:%d/",
            f"[{name[0]}]" if ":" in name[0] else name[0],
            name[1],
        )
    task_status.started(bound)  # the listeners already queue connections
    await serve_admitted(
        server.handle, listeners, admission or Admission(), name="web", refusal=_http_refusal
    )


def _http_refusal(message: str) -> bytes:
    """A refused HTTP client's answer: 503, the reason, and close."""
    body = f"503 {message}\n".encode()
    return (
        b"HTTP/1.1 503 Service Unavailable\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: %d\r\n"
        b"Retry-After: 60\r\n"
        b"Connection: close\r\n\r\n" % len(body)
    ) + body


class _AdmittedGateway:
    """The gateway as one WebSocket connection sees it: the session it
    opens is attached to the connection's admission ticket first, so the
    login and the pre-login timeout apply to it."""

    def __init__(self, gateway: Gateway, ticket: Ticket) -> None:
        self._gateway = gateway
        self._ticket = ticket

    def connect(self, session: Session) -> SessionHandler:
        self._ticket.attach(session)
        return self._gateway.connect(session)


__all__ = [
    "CONTENT_TYPES",
    "DEFAULT_HOSTS",
    "DEFAULT_PORT",
    "STATIC_DIR",
    "WEBSOCKET_PATH",
    "HttpLimits",
    "resolve_static",
    "serve_web",
]
