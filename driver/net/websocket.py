"""WebSocket sessions: one accepted WebSocket adapted to :class:`Session`.

:func:`run_websocket_session` owns a connection from the accepted handshake to
the end. It runs three tasks:

* the *reader* turns frames into input (see :mod:`driver.net.wsformats`) and
  calls the handler; it enforces the idle timeout, the input rate and the
  rule for malformed messages;
* the *writer* drains the session's outbox; :class:`WebSocketSession`'s send
  methods only append to it, so the driver never waits on a slow client;
* the *keepalive* pings the client and reaps it when no pong comes back.

How a connection ends, and what the client sees (the close code):

=================================  ======  ===================================
cause                              code    notes
=================================  ======  ===================================
``session.close(reason)``          1000    queued output is flushed first
idle for ``idle_timeout``          1000    a notice is sent first
client closed                      --      whatever the client sent
message over ``max_message_size``  1009    by trio-websocket, before buffering
input flood (see below)            1008
too many malformed messages        1008
the handler raised                 1011    logged with its traceback
server shutting down               1001    best effort
outbox over ``output_cap``         --      dropped without a close frame:
                                           the client is not reading anyway
no pong within ``ping_timeout``    --      dropped: the peer is gone
=================================  ======  ===================================

Input rate: a token bucket (``input_rate`` messages a second, bursts up to
``input_burst``). A message over the rate is dropped and the client told once
per burst; ``flood_limit`` drops in a row close the connection.

Malformed messages (JSON that does not parse or does not match the schema,
a BINARY frame on ``json.jitrealm``, a GMCP frame that is not
``Package.Name <json>``): the message is dropped, a ``json.jitrealm`` client
gets an ``error`` message naming the problem, and the connection stays open;
``bad_message_limit`` malformed messages in a row close it with 1008. A bad
message changes nothing else, but a client that only sends garbage is cut off.

``handler.on_disconnect(reason)`` is called exactly once, whatever the cause.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from dataclasses import dataclass
from itertools import islice
from typing import Any

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection
from wsproto.connection import ConnectionState
from wsproto.events import BytesMessage, TextMessage

from driver.net import ansi
from driver.net.ratelimit import TokenBucket
from driver.net.render import Renderer, ansi_renderer
from driver.net.session import ClientInfo, Gateway, Session, SessionHandler
from driver.net.wsformats import (
    BadMessage,
    Event,
    Frame,
    Gmcp,
    Line,
    WireFormat,
    check_package,
    wire_format,
)

log = logging.getLogger(__name__)

# MTTS bits a WebSocket client is assumed to have: ANSI, UTF-8, 256 colours,
# truecolor. There is no TTYPE to ask, and every WebSocket MUD client we know
# of (ours included) renders all of these.
WEBSOCKET_MTTS = 1 | 4 | 8 | 256

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011


@dataclass(frozen=True, slots=True)
class WebSocketLimits:
    """Caps that keep one client from costing the server without bound."""

    #: Largest inbound message, in bytes (BINARY) or characters (TEXT).
    max_message_size: int = 16 * 1024
    #: Output queued for one client (bytes/characters) before it is dropped.
    output_cap: int = 1024 * 1024
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    #: No message from the client for this long ends the session.
    idle_timeout: float = 60.0 * 60.0
    #: Sustained input messages per second, and the burst allowed above it.
    input_rate: float = 10.0
    input_burst: int = 40
    #: Messages dropped for rate in a row before the connection is closed.
    flood_limit: int = 200
    #: Malformed messages in a row before the connection is closed.
    bad_message_limit: int = 20
    #: Time to flush and complete the closing handshake.
    close_timeout: float = 5.0


@dataclass(frozen=True, slots=True)
class _Ending:
    code: int | None  # None: drop the connection without a closing handshake
    reason: str
    flush: bool  # send what is queued first


#: Frames written at once at most (see :func:`_send_frames`).
_WRITE_BATCH = 64


async def _send_frames(ws: WebSocketConnection, frames: list[Frame]) -> None:
    """Send ``frames`` in order, as :meth:`WebSocketConnection.send_message` would
    send each, but in one write, and without waiting when the socket takes them.

    trio-websocket has no call for that, so this does what its ``send_message`` does
    (wsproto encodes each message; the connection's stream lock serialises writers; a
    broken stream aborts the connection and raises ConnectionClosed) and then, holding
    the lock, hands the bytes to the socket at once: a trio ``send_all`` checkpoints
    two or three times even when the socket has room, and with thousands of sessions
    each checkpoint is a wait for the whole run queue (tens of milliseconds of patch
    latency at 2,000 clients). What the socket does not take now is sent by
    ``send_all``, which waits for it, still under the lock."""
    if not _BATCHES:  # another trio-websocket: its public call, one frame at a time
        for frame in frames:
            await ws.send_message(frame)
        return
    if ws._close_reason:
        raise ConnectionClosed(ws._close_reason)
    protocol = ws._wsproto
    if protocol.state is ConnectionState.OPEN and not _extensions(protocol):
        data = b"".join([_framed(f) for f in frames])
    else:  # wsproto says why not (or compresses, were an extension ever agreed)
        data = b"".join(
            protocol.send(TextMessage(data=f) if isinstance(f, str) else BytesMessage(data=f))
            for f in frames
        )
    lock = ws._stream_lock
    stream = ws._stream
    raw_socket = getattr(stream, "raw_socket", None)
    sock = raw_socket() if raw_socket is not None else None
    try:
        if sock is None or lock.locked():
            async with lock:
                await stream.send_all(data)
            return
        lock.acquire_nowait()
        try:
            sent = 0
            fd = sock.fileno()  # -1 once the socket is closed (never a reused number)
            if fd < 0:
                raise trio.ClosedResourceError("the socket is closed")
            try:
                sent = os.write(fd, data)
            except BlockingIOError:
                pass
            except OSError as exc:
                raise trio.BrokenResourceError(str(exc)) from exc
            if sent < len(data):
                await stream.send_all(memoryview(data)[sent:])
        finally:
            lock.release()
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        await ws._abort_web_socket()
        assert ws._close_reason is not None
        raise ConnectionClosed(ws._close_reason) from None


def _extensions(protocol: Any) -> Any:
    """The extensions wsproto agreed for the connection (trio-websocket agrees none)."""
    frames = getattr(getattr(protocol, "connection", None), "_proto", None)
    return getattr(frames, "extensions", True)


#: Frames already framed, by identity: a room's patch goes to each of its clients as
#: the same object, so it is framed once (a server's frames are not masked).
_FRAMED: dict[int, tuple[Frame, bytes]] = {}


def _framed(frame: Frame) -> bytes:
    """One whole, unmasked WebSocket message (RFC 6455 section 5.2), as wsproto
    frames a message a server sends when no extension was agreed."""
    known = _FRAMED.get(id(frame))
    if known is not None and known[0] is frame:
        return known[1]
    if isinstance(frame, str):
        payload, opcode = frame.encode("utf-8"), 0x81  # FIN + TEXT
    else:
        payload, opcode = bytes(frame), 0x82  # FIN + BINARY
    size = len(payload)
    if size < 126:
        head = bytes((opcode, size))
    elif size < 1 << 16:
        head = bytes((opcode, 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((opcode, 127)) + size.to_bytes(8, "big")
    data = head + payload
    if len(_FRAMED) >= 256:
        _FRAMED.clear()
    _FRAMED[id(frame)] = (frame, data)  # holding the frame keeps its id from being reused
    return data


_BATCHES = all(
    hasattr(WebSocketConnection, name) for name in ("_abort_web_socket", "_send", "send_message")
)


def parse_supports(items: Any) -> set[str]:
    """Package names from a ``Core.Supports.*`` list (``["Room 1", "Char 1"]``),
    lower-cased as :meth:`Session.wants_gmcp` expects; junk entries are skipped."""
    names: set[str] = set()
    if isinstance(items, list):
        for item in items[:256]:
            if isinstance(item, str) and item.strip():
                names.add(item.split()[0].lower())
    return names


class WebSocketSession(Session):
    """A :class:`Session` over one WebSocket; created by :func:`run_websocket_session`.

    The send methods never block: they render and encode at once (so errors
    surface in the caller) and append the frame to an outbox that the writer
    task drains.
    """

    __slots__ = (
        "info", "wire", "_limits", "_outbox", "_outbox_size", "_wakeup", "_ending", "_scope",
        "_renderer", "_render_key",
    )  # fmt: skip

    def __init__(self, info: ClientInfo, wire: WireFormat, limits: WebSocketLimits) -> None:
        self.info = info
        self.wire = wire
        self._limits = limits
        self._renderer: Renderer[str] | None = None
        self._render_key: tuple[int, bool] | None = None
        self._outbox: deque[Frame] = deque()
        self._outbox_size = 0
        self._wakeup = trio.Event()
        self._ending: _Ending | None = None
        self._scope: trio.CancelScope | None = None

    # -- the Session contract ------------------------------------------------

    def send_text(self, text: str) -> None:
        self._push(self.wire.text(self._render(text)))

    def send_prompt(self, text: str) -> None:
        self._push(self.wire.prompt(self._render(text)))

    def send_gmcp(self, package: str, data: Any) -> None:
        if not self.wants_gmcp(package):
            return
        try:
            frame = self.wire.gmcp_message(check_package(package), data)
        except (BadMessage, ValueError, TypeError) as exc:
            # A driver bug, not the client's: say so in the log, keep going.
            log.warning("%s: GMCP %s not sent: %s", self.info.peer, package, exc)
            return
        if frame is not None:
            self._push(frame)

    def close(self, reason: str = "") -> None:
        self._end(_Ending(CLOSE_NORMAL, reason or "closed by server", flush=True))

    # -- beyond the contract -------------------------------------------------

    def send_event(self, name: str, payload: Any) -> None:
        """Queue a named event for clients that take them (``json.jitrealm``);
        reserved for declarative rooms' state snapshots and patches."""
        try:
            frame = self.wire.event(name, payload)
        except (ValueError, TypeError) as exc:
            log.warning("%s: event %s not sent: %s", self.info.peer, name, exc)
            return
        if frame is not None:
            self._push(frame)

    def send_frame(self, frame: Frame) -> None:
        """Queue a frame already encoded for this session's wire format: one
        encoding shared by many sessions (a live room's patch to its clients)."""
        self._push(frame)

    @property
    def closing(self) -> bool:
        """True once the session is ending; output is then dropped."""
        return self._ending is not None

    def notify(self, code: str, message: str) -> None:
        """Tell the client its message was not used: an ``error`` message
        where the format has one, a bracketed line of text otherwise."""
        frame = self.wire.error(code, message)
        if frame is None:
            frame = self.wire.text(self._render("{dim}[" + ansi.escape(message) + "]{/}\n"))
        self._push(frame)

    # -- internals -----------------------------------------------------------

    def _render(self, text: str) -> str:
        # Shared with every session of the same width and colour (see
        # driver.net.render); the wire format frames the text per session.
        key = (self.info.width, self.info.ansi)
        renderer = self._renderer
        if renderer is None or key != self._render_key:
            self._render_key = key
            depth = ansi.ColourDepth.TRUECOLOR if self.info.ansi else ansi.ColourDepth.NONE
            renderer = self._renderer = ansi_renderer(max(self.info.width, 0), depth)
        return renderer.text(text)

    def _push(self, frame: Frame) -> None:
        if self._ending is not None:
            return
        self._outbox.append(frame)
        self._outbox_size += len(frame)
        if self._outbox_size > self._limits.output_cap:
            self._outbox.clear()
            self._end(_Ending(None, "output overflow: the client is not reading", flush=False))
            return
        self._wakeup.set()

    def _attach(self, scope: trio.CancelScope) -> None:
        """Bind to the scope of the running connection; an end requested
        before (say, by ``gateway.connect``) takes effect now."""
        self._scope = scope
        ending, self._ending = self._ending, None
        if ending is not None:
            self._end(ending)

    def _end(self, ending: _Ending) -> None:
        """Record how the session ends (the first cause wins) and start it."""
        if self._ending is not None:
            return
        self._ending = ending
        self._wakeup.set()
        if self._scope is not None:
            if ending.flush:
                # The writer flushes and closes; give it close_timeout to do so.
                self._scope.deadline = min(
                    self._scope.deadline, trio.current_time() + self._limits.close_timeout
                )
            else:
                self._scope.cancel()

    async def _write_loop(self, ws: WebSocketConnection) -> None:
        outbox = self._outbox
        while True:
            while outbox:
                # What queued up since the last write goes out in one write (a room's
                # patch and what was said with it, say): one system call, not one each.
                frames = [outbox[0]] if len(outbox) == 1 else list(islice(outbox, _WRITE_BATCH))
                try:
                    await _send_frames(ws, frames)
                except ConnectionClosed:
                    self._end(_Ending(None, _closed_reason(ws), flush=False))
                    return
                for frame in frames:
                    outbox.popleft()
                    self._outbox_size -= len(frame)
            ending = self._ending
            if ending is not None:
                if ending.code is not None:
                    await ws.aclose(ending.code, ending.reason[:120])
                assert self._scope is not None
                self._scope.cancel()
                return
            await self._wakeup.wait()
            self._wakeup = trio.Event()

    async def _keepalive_loop(self, ws: WebSocketConnection) -> None:
        limits = self._limits
        while True:
            await trio.sleep(limits.ping_interval)
            with trio.move_on_after(limits.ping_timeout) as waited:
                try:
                    await ws.ping()
                except ConnectionClosed:
                    return
            if waited.cancelled_caught:
                self._end(_Ending(None, "ping timeout", flush=False))
                return

    async def _read_loop(self, ws: WebSocketConnection, handler: SessionHandler) -> None:
        limits = self._limits
        bucket = TokenBucket(limits.input_rate, limits.input_burst)
        dropped = 0
        bad = 0
        while self._ending is None:
            with trio.move_on_after(limits.idle_timeout) as idle:
                try:
                    frame = await ws.get_message()
                except ConnectionClosed:
                    self._end(_Ending(None, _closed_reason(ws), flush=False))
                    return
            if idle.cancelled_caught:
                self.send_text("{dim}[Idle too long; closing the connection.]{/}\n")
                self._end(_Ending(CLOSE_NORMAL, "idle timeout", flush=True))
                return
            if self._ending is not None:
                return
            if not bucket.take():
                dropped += 1
                if dropped == 1:
                    self.notify("rate-limited", "Too much input; slow down. Input was dropped.")
                if dropped >= limits.flood_limit:
                    self._end(_Ending(CLOSE_POLICY, "input flood", flush=True))
                    return
                continue
            dropped = 0
            try:
                inputs = self.wire.decode(frame)
            except BadMessage as exc:
                bad += 1
                self.notify(exc.code, str(exc))
                if bad >= limits.bad_message_limit:
                    self._end(_Ending(CLOSE_POLICY, "too many malformed messages", flush=True))
                    return
                continue
            bad = 0
            for item in inputs:
                if self._ending is not None:
                    return
                self._dispatch(item, handler)

    def _dispatch(self, item: Line | Gmcp | Event, handler: SessionHandler) -> None:
        try:
            match item:
                case Line(text):
                    handler.on_line(text)
                case Gmcp(package, data):
                    self._note_gmcp(package, data)
                    handler.on_gmcp(package, data)
                case Event(name, payload):
                    on_event = getattr(handler, "on_event", None)
                    if on_event is None:
                        self.notify("unsupported", f"no handler takes the event {name!r} here")
                    else:
                        on_event(name, payload)
        except Exception:
            log.exception("%s: session handler failed", self.info.peer)
            self._end(_Ending(CLOSE_INTERNAL_ERROR, "server error", flush=True))

    def _note_gmcp(self, package: str, data: Any) -> None:
        """Keep ``info`` current with what the client told us about itself."""
        name = package.lower()
        if name == "core.supports.set":
            self.info.gmcp_packages = parse_supports(data)
        elif name == "core.supports.add":
            self.info.gmcp_packages |= parse_supports(data)
        elif name == "core.supports.remove":
            self.info.gmcp_packages -= parse_supports(data)
        elif name == "core.hello" and isinstance(data, dict):
            client = data.get("client") or data.get("Client")
            if isinstance(client, str):
                self.info.terminal = client[:64]


def _closed_reason(ws: WebSocketConnection) -> str:
    closed = ws.closed
    if closed is None:
        return "connection closed"
    if closed.code == CLOSE_TOO_BIG:
        return "message too big"
    return f"client closed ({closed.code}{': ' + closed.reason if closed.reason else ''})"


def client_info(subprotocol: str, peer: str, wire: WireFormat) -> ClientInfo:
    """What we know of a WebSocket client before it says anything.

    ``width`` is 0 (do not wrap): a browser or terminal wraps to its own width,
    which the server does not know.
    """
    return ClientInfo(
        transport="websocket",
        peer=peer,
        terminal="",
        width=0,
        height=0,
        ansi=True,
        utf8=True,
        gmcp=wire.gmcp,
        mtts=WEBSOCKET_MTTS,
    )


async def run_websocket_session(
    ws: WebSocketConnection,
    gateway: Gateway,
    *,
    peer: str,
    limits: WebSocketLimits,
) -> None:
    """Serve one accepted WebSocket until it ends (see the module docstring).

    The caller owns the underlying stream and closes it afterwards; this
    function performs the WebSocket closing handshake when there is one to do.
    """
    subprotocol = ws.subprotocol
    assert subprotocol is not None, "the handshake must have chosen a subprotocol"
    wire = wire_format(subprotocol)
    session = WebSocketSession(client_info(subprotocol, peer, wire), wire, limits)
    try:
        handler = gateway.connect(session)
    except Exception:
        log.exception("%s: gateway refused the session", peer)
        with trio.move_on_after(limits.close_timeout):
            await ws.aclose(CLOSE_INTERNAL_ERROR, "server error")
        return

    log.info("%s: websocket session (%s)", peer, subprotocol)
    try:
        async with trio.open_nursery() as nursery:
            session._attach(nursery.cancel_scope)
            nursery.start_soon(session._write_loop, ws)
            nursery.start_soon(session._keepalive_loop, ws)
            nursery.start_soon(session._read_loop, ws, handler)
    finally:
        ending = session._ending
        if ending is None:
            # Cancelled from outside: the server is shutting down.
            session._ending = ending = _Ending(CLOSE_GOING_AWAY, "server shutting down", False)
            with trio.CancelScope(shield=True), trio.move_on_after(1.0):
                await ws.aclose(CLOSE_GOING_AWAY, ending.reason)
        log.info("%s: websocket session ended: %s", peer, ending.reason)
        try:
            handler.on_disconnect(ending.reason)
        except Exception:
            log.exception("%s: on_disconnect failed", peer)


__all__ = [
    "WEBSOCKET_MTTS",
    "WebSocketLimits",
    "WebSocketSession",
    "client_info",
    "parse_supports",
    "run_websocket_session",
]
