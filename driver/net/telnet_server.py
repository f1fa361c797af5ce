"""The telnet front door: a trio TCP listener that adapts each connection to a
:class:`~driver.net.session.Session`.

Everything about the protocol lives in :mod:`driver.net.telnet`; this module
only moves bytes and enforces the rules a public server needs:

* **Never wait on the client.** Options are offered the moment a connection
  opens, and output flows at once whatever the answers (or their absence):
  plain ``telnet`` and netcat work.
* **Never block the driver.** :class:`TelnetSession` methods queue output in
  the protocol machine and wake a writer task. A client that stops reading
  fills the queue up to :attr:`TelnetConfig.output_cap` and is then
  disconnected, rather than making the server hold its backlog.
* **Reap what is dead.** TCP keepalive (and ``TCP_USER_TIMEOUT`` where the
  OS has it) finds half-open connections; a write that cannot finish within
  :attr:`TelnetConfig.write_timeout` ends the session; a player who types
  nothing for :attr:`TelnetConfig.idle_timeout` is told and disconnected.
* **Bound what the client can make us do.** Input lines pass a token bucket
  (excess lines are dropped with a warning); the protocol machine caps line
  and subnegotiation size.

Output text is JitRealm markup (:mod:`driver.net.ansi`): wrapped to the width
NAWS reported, rendered to ANSI when the client shows colour and stripped when
it does not, and encoded for the charset agreed, once per kind of client
(:mod:`driver.net.render`) and shared by every session of that kind.

* **One write per session per turn.** Everything the driver sends a session
  while it runs (a whole turn of events) is queued; when the loop yields, the
  listener's flusher writes each session's queue in one write, MCCP2
  compressed with one flush, straight to the socket. Only a session whose
  client is not reading gets a writer task, until it has caught up.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import trio
from trio.testing import wait_all_tasks_blocked

from driver.net import ansi
from driver.net.admission import Admission, Ticket, serve_admitted
from driver.net.ratelimit import TokenBucket
from driver.net.render import Renderer, renderer_for
from driver.net.session import ClientInfo, Gateway, Session, SessionHandler
from driver.net.telnet import (
    DEFAULT_OPTIONS,
    Event,
    Gmcp,
    Line,
    MsspValue,
    Mtts,
    Opt,
    ProtocolViolation,
    TelnetLimits,
    TelnetProtocol,
    encode_text,
)

__all__ = ["TelnetConfig", "TelnetSession", "colour_depth", "serve_telnet"]

log = logging.getLogger(__name__)

_CONNECTION_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


@dataclass(frozen=True, slots=True)
class TelnetConfig:
    """Knobs of the telnet front door; the defaults suit a public server."""

    idle_timeout: float = 30 * 60.0  # seconds without an input line
    idle_message: str = "You have been idle too long. Goodbye!"
    lines_per_second: float = 10.0  # sustained input rate...
    line_burst: int = 30  # ...and how many lines may come at once
    output_cap: int = 1 << 20  # bytes queued for one client before it is dropped
    write_timeout: float = 60.0  # seconds one write may take before the client is dead
    close_flush_timeout: float = 5.0  # seconds to flush queued output when closing
    read_size: int = 4096  # bytes per receive
    keepalive_idle: int = 60  # TCP keepalive: seconds of silence before probing...
    keepalive_interval: int = 15  # ...seconds between probes...
    keepalive_count: int = 4  # ...and unanswered probes before the OS drops it
    # Over-long subnegotiation payload dropped (one endless SB, or many too
    # long) before the client is disconnected: no client needs to send one.
    max_subnegotiation_dropped: int = 1 << 20
    # An MCCP2 stream with no output for this long is ended, freeing its
    # zlib state (most of what an idle MCCP2 session holds); the next output
    # starts a new one. 0: never.
    compression_rest_after: float = 10.0
    # A turn's output waits, at most this long, for the turns whose input
    # is already here to run too, so that turns ending close together share
    # each session's write (and MCCP2 flush). It waits only while the
    # server has something else ready to run: an idle server writes at once.
    # 0: write after every turn.
    coalesce_seconds: float = 0.002
    limits: TelnetLimits = field(default_factory=TelnetLimits)
    options: frozenset[Opt] = DEFAULT_OPTIONS


def colour_depth(info: ClientInfo) -> ansi.ColourDepth:
    """The richest colour a client told us (via MTTS) it can show."""
    if not info.ansi:
        return ansi.ColourDepth.NONE
    if info.mtts & Mtts.TRUECOLOR:
        return ansi.ColourDepth.TRUECOLOR
    if info.mtts & Mtts.COLOURS_256:
        return ansi.ColourDepth.XTERM256
    return ansi.ColourDepth.ANSI16


class _Flusher:
    """Writes each session's output of a turn in one write.

    Sessions queue output in their protocol machine as the driver sends it,
    and put themselves on this list the first time they have something
    pending. One task per listener wakes once the task that queued the
    output yields (the loop does, between turns) and writes every listed
    session's pending bytes at once, MCCP2 compressed and flushed once. So a
    crowded room's ``say`` costs each listener one write, not one per line,
    and no task per session is woken for it.
    """

    __slots__ = ("_dirty", "_wake", "coalesce", "nursery", "sessions")

    def __init__(self, coalesce: float = 0.0) -> None:
        self.coalesce = coalesce
        self._dirty: list[TelnetSession] = []
        self._wake = trio.Event()
        self.sessions: set[TelnetSession] = set()  # every open session of the listener
        # Where sessions whose client is not keeping up run a writer task
        # (the listener's nursery): a session itself has no nursery.
        self.nursery: trio.Nursery | None = None

    def schedule(self, session: TelnetSession) -> None:
        if not self._dirty:
            self._wake.set()
        self._dirty.append(session)

    async def run(self) -> None:
        coalesce = self.coalesce
        while True:
            await self._wake.wait()
            if coalesce > 0:
                # Let every task that can run now (readers with input, the
                # tenants' turns they queue) run first, for at most
                # ``coalesce``: their output joins this write.
                with trio.move_on_after(coalesce):
                    await wait_all_tasks_blocked()
            self._wake = trio.Event()
            dirty, self._dirty = self._dirty, []
            for session in dirty:
                try:
                    session._flush()
                except Exception:
                    # One session's bug must not stop everyone's output.
                    log.exception("telnet %s: flush failed", session.info.peer)
                    session._end("flush failed")

    async def rest_idle_streams(self, after: float) -> None:
        """End the MCCP2 streams of sessions that sent nothing for about
        ``after`` seconds (checked every half of it): an idle MCCP2 session
        then holds about as little as one without compression. When any
        were ended, the freed heap is given back to the system."""
        while True:
            await trio.sleep(after / 2)
            rested = 0
            for session in list(self.sessions):
                rested += session._rest_if_idle()
            if rested:
                # Even a few: the states a pass frees stay in the heap until
                # trimmed (60 left untrimmed after a pass that ended 440 held
                # 2 MB). A trim is 1-2 ms of CPU with 1,000 sessions, and
                # comes at most once a pass.
                _trim_heap()


class TelnetSession(Session):
    """One telnet connection, as the driver sees it (see :class:`Session`).

    Output is rendered by the :class:`~driver.net.render.Renderer` shared by
    every telnet session of the same kind (width, colour depth, charset),
    queued in the protocol machine, and written by the listener's
    :class:`_Flusher` straight to the socket, which takes it at once unless
    the client is not reading. Only then does the session start a writer
    task (in the listener's nursery), which drains the backlog, or gives up
    after :attr:`TelnetConfig.write_timeout`, and ends.

    The connection's own task reads, inside one cancel scope whose deadline
    is the idle timeout; closing cancels the scope, and the same task then
    flushes what is queued, ends the MCCP2 stream and closes the socket. So
    an idle session is one task waiting for its socket to be readable, one
    cancel scope and a few small objects: no nursery, no timeout per read.
    """

    __slots__ = (
        "info", "_stream", "_fd", "_config", "_protocol", "_flusher", "_handler",
        "_close_reason", "_abrupt", "_scope", "_last_line", "_bucket", "_flood_warned",
        "_renderer", "_scheduled", "_writing", "_writer_done", "_backlog",
        "_flushes", "_rest_mark",
    )  # fmt: skip

    def __init__(
        self,
        stream: trio.SocketStream,
        peer: str,
        config: TelnetConfig,
        flusher: _Flusher,
        mssp: Callable[[], Mapping[str, MsspValue]] | None = None,
    ) -> None:
        self.info = ClientInfo(transport="telnet", peer=peer)
        self._stream = stream
        self._fd = _writable_fd(stream)
        self._config = config
        self._protocol = TelnetProtocol(
            self.info, limits=config.limits, mssp=mssp, options=config.options
        )
        self._flusher = flusher
        self._handler: SessionHandler | None = None
        self._close_reason: str | None = None
        self._abrupt = False  # ended without a flush (the connection is gone)
        self._scope: trio.CancelScope | None = None  # the reader's, while it reads
        self._last_line = trio.current_time()
        self._bucket = TokenBucket(config.lines_per_second, config.line_burst)
        self._flood_warned = False
        self._renderer: Renderer[bytes] | None = None
        self._scheduled = False  # on the flusher's list
        self._writing = False  # the writer task runs: it owns the socket
        self._writer_done: trio.Event | None = None  # made when someone waits for it
        self._backlog = b""  # taken from the protocol, not yet written
        self._flushes = 0  # writes of output, counted for resting an idle MCCP2 stream
        self._rest_mark = -1

    # ------------------------------------------------------------ Session

    def send_text(self, text: str) -> None:
        # Once per line per session: _queue's text case, inline.
        if self._close_reason is None:
            renderer = self._renderer or self._choose_renderer()
            if not self._protocol.send_encoded_within(renderer.text(text), self._config.output_cap):
                self._overflow()
            elif not self._scheduled:
                self._scheduled = True
                self._flusher.schedule(self)

    def send_prompt(self, text: str) -> None:
        if self._close_reason is None:
            renderer = self._renderer or self._choose_renderer()
            self._queue(renderer.text(text), prompt=True)

    def send_gmcp(self, package: str, data: Any) -> None:
        if self._close_reason is not None or not self.wants_gmcp(package):
            return
        try:
            self._protocol.send_gmcp(package, data)
        except (TypeError, ValueError):
            log.exception("telnet %s: cannot encode GMCP %s; dropped", self.info.peer, package)
            return
        self._after_queue()

    def close(self, reason: str = "") -> None:
        if self._close_reason is None:
            self._close_reason = reason or "closed by server"
            # Stop reading; the connection's task flushes and closes.
            if self._scope is not None:
                self._scope.cancel()

    # ------------------------------------------------------------ extras

    @property
    def close_reason(self) -> str | None:
        """Why the session ended (or is ending); None while it is open."""
        return self._close_reason

    def set_echo(self, on: bool) -> None:
        """Password entry: telnet's way is for the server to claim the echo
        (``WILL ECHO``) and then not echo. Clients that refuse keep echoing.

        Turning echo back on also ends the line, when the client had
        stopped echoing: it did not show the player's Enter either.
        """
        if self._close_reason is not None:
            return
        if on:
            was_hidden = self._protocol.enabled(Opt.ECHO, local=True)
            self._protocol.disable(Opt.ECHO, local=True)
            if was_hidden:
                self._protocol.send_text("\n")
        else:
            # insist: TinTin++ never answers our WONT ECHO (see enable).
            self._protocol.enable(Opt.ECHO, local=True, insist=True)
        self._after_queue()

    # ------------------------------------------------------------ output

    def _choose_renderer(self) -> Renderer[bytes]:
        """The renderer of this client's kind. What makes the kind (width,
        colour, charset) is learnt by negotiation, so the reader forgets
        the renderer after every read that negotiated something (and it is
        chosen again here when next needed)."""
        info = self.info
        encoding = self._protocol.encoding
        width = max(info.width, 0)
        depth = colour_depth(info)
        renderer = self._renderer = renderer_for(
            ("telnet", width, depth, encoding),
            width,
            depth,
            functools.partial(encode_text, encoding=encoding),
            b"\r\n",
        )
        return renderer

    def _queue(self, data: bytes, *, prompt: bool) -> None:
        protocol = self._protocol
        cap = self._config.output_cap
        # A text that would put the queue over its cap is refused whole.
        if not prompt:
            if not protocol.send_encoded_within(data, cap):
                self._overflow()
                return
        elif protocol.bytes_pending + len(data) > cap:
            self._overflow()
            return
        else:
            protocol.send_encoded_prompt(data)
            if protocol.bytes_pending > cap:  # the prompt's end mark did it
                self._overflow()
                return
        if not self._scheduled:
            self._scheduled = True
            self._flusher.schedule(self)

    def _after_queue(self) -> None:
        pending = self._protocol.bytes_pending
        if pending > self._config.output_cap:
            self._overflow()
        elif pending and not self._scheduled:
            self._scheduled = True
            self._flusher.schedule(self)

    def _rest_if_idle(self) -> bool:
        """Called every half rest period: end the MCCP2 stream if nothing was
        written since the last call. True if it was ended."""
        if not self._protocol.compressing or self._close_reason is not None:
            return False
        if self._flushes != self._rest_mark or self._writing:
            self._rest_mark = self._flushes
            return False
        if not self._protocol.rest_compression():
            return False
        self._after_queue()  # the stream's end goes out
        return True

    def _overflow(self) -> None:
        log.info("telnet %s: output queue over its cap; closing", self.info.peer)
        self.close("output overflow")

    def _flush(self) -> None:
        """The flusher's turn: write what is pending, now if the socket takes it."""
        self._scheduled = False
        if self._writing or self._close_reason is not None or self._scope is None:
            # The writer owns the output; or the session is closing (its
            # task sends the rest); or it is not reading yet (and run()
            # flushes the offers and greeting once it starts).
            return
        data = self._protocol.data_to_send()
        if not data:
            return
        self._flushes += 1
        sent = 0
        if self._fd >= 0:
            try:
                sent = os.write(self._fd, data)
            except BlockingIOError:
                sent = 0
            except OSError:
                self._end("connection lost")
                return
        if sent < len(data):
            # The client is not keeping up (or this platform cannot write a
            # socket directly): a writer task takes over until it is drained.
            self._backlog = data[sent:]
            self._writing = True
            assert self._flusher.nursery is not None
            self._flusher.nursery.start_soon(self._writer)

    async def _writer(self) -> None:
        """Drain the backlog, then what was queued meanwhile, and end; when
        the session is closing, stop after the current write (the
        connection's task sends the rest)."""
        try:
            while True:
                if not await self._send(self._backlog, self._config.write_timeout):
                    return
                self._backlog = b""
                if self._close_reason is not None:
                    return
                self._backlog = self._protocol.data_to_send()
                if not self._backlog:
                    return  # drained: the flusher writes directly again
        except Exception:
            # A bug here must not take the listener (this task's nursery) down.
            log.exception("telnet %s: writer failed", self.info.peer)
            self._end("writer failed")
        finally:
            self._writing = False
            done, self._writer_done = self._writer_done, None
            if done is not None:
                done.set()

    async def _writer_idle(self) -> None:
        """Wait until no writer task runs."""
        if self._writing:
            if self._writer_done is None:
                self._writer_done = trio.Event()
            await self._writer_done.wait()

    async def _finish(self) -> None:
        """Closing: send what is queued (after the writer's current write)
        and end the MCCP2 stream, within :attr:`TelnetConfig.close_flush_timeout`."""
        with trio.move_on_after(self._config.close_flush_timeout):
            await self._writer_idle()
            if self._abrupt:
                return
            self._protocol.finish()
            data = self._backlog + self._protocol.data_to_send()
            self._backlog = b""
            await self._send(data, self._config.close_flush_timeout)

    async def _send(self, data: bytes, timeout: float) -> bool:
        """Write ``data``; False (and the session ended) if the client is gone."""
        if not data:
            return True
        try:
            with trio.move_on_after(timeout) as scope:
                await self._stream.send_all(data)
        except _CONNECTION_ERRORS:
            self._end("connection lost")
            return False
        if scope.cancelled_caught:
            self._end("write timeout")
            return False
        return True

    def _end(self, reason: str | None = None) -> None:
        """End at once, without a flush: the connection is gone."""
        if self._close_reason is None:
            self._close_reason = reason or "closed"
        self._abrupt = True
        if self._scope is not None:
            self._scope.cancel()

    # ------------------------------------------------------------ input

    def _broken(self) -> bool:
        """True if the socket has an error pending."""
        try:
            return self._stream.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0
        except OSError:
            return True

    def _received(self, data: bytes) -> None:
        # Not inline in the reader, so that nothing of a read (the bytes,
        # the events) stays referenced while the session waits for the next.
        events = self._protocol.receive_data(data)
        for event in events:
            if type(event) is not Line:
                # Negotiation may have changed the kind of client, for the
                # lines of this read too.
                self._renderer = None
                break
        self._handle(events)
        if self._protocol.subnegotiation_bytes_dropped > self._config.max_subnegotiation_dropped:
            self._subnegotiation_flood()
            return
        self._after_queue()  # negotiation answers

    def _subnegotiation_flood(self) -> None:
        log.info(
            "telnet %s: %d bytes of over-long subnegotiations dropped; closing",
            self.info.peer,
            self._protocol.subnegotiation_bytes_dropped,
        )
        self.send_text("Your client sent more telnet negotiation than it may. Goodbye.\n")
        self.close("subnegotiation flood")

    def _handle(self, events: list[Event]) -> None:
        assert self._handler is not None
        for event in events:
            if self._close_reason is not None:
                return  # a handler closed us; the rest is not delivered
            if isinstance(event, Line):
                self._last_line = now = trio.current_time()
                if not self._bucket.take(now):
                    if not self._flood_warned:
                        self._flood_warned = True
                        self.send_text("{yellow}You are sending too fast; input dropped.{/}\n")
                    continue
                self._flood_warned = False
                if event.truncated:
                    self.send_text("{yellow}That line was too long and has been cut short.{/}\n")
                self._call("on_line", event.text)
            elif isinstance(event, Gmcp):
                if self._bucket.take():
                    self._call("on_gmcp", event.package, event.data)
            elif isinstance(event, ProtocolViolation):
                log.debug("telnet %s: %s", self.info.peer, event.reason)

    def _call(self, method: str, *args: Any) -> None:
        # A bug in the driver's handler is logged, and the session goes on.
        try:
            getattr(self._handler, method)(*args)
        except Exception:
            log.exception("telnet %s: handler.%s failed", self.info.peer, method)

    # ------------------------------------------------------------ lifecycle

    async def run(self, gateway: Gateway) -> None:
        """Serve the connection until it ends; ``handler.on_disconnect`` runs once.

        An idle session holds each frame of the chain it waits in, once per
        connection: so the wait for input is in this frame, which only the
        listener's task awaits, and whatever else it calls it does not wait in."""
        flusher = self._flusher
        flusher.sessions.add(self)
        try:
            self._protocol.start()  # offers go out first, before any greeting
            try:
                self._handler = gateway.connect(self)
            except Exception:
                log.exception("telnet %s: gateway.connect failed", self.info.peer)
                self.send_text("Sorry, the server cannot take your connection right now.\n")
                self.close("gateway error")
            try:
                if self._close_reason is None and self._handler is not None:
                    config = self._config
                    fd, size = self._fd, config.read_size
                    self._after_queue()  # the offers and the greeting
                    # The idle deadline is not moved at every line (that costs a
                    # deadline update per command); when it passes, a session
                    # that has typed since just waits again, from its last line.
                    while self._close_reason is None:
                        with trio.CancelScope(
                            deadline=self._last_line + config.idle_timeout
                        ) as scope:
                            self._scope = scope
                            # Where a socket can be read with ``os.read``, straight
                            # from the descriptor, not through a stream's call chain.
                            while self._close_reason is None:
                                try:
                                    if fd < 0:
                                        data = bytes(await self._stream.receive_some(size))
                                    else:
                                        await trio.lowlevel.wait_readable(fd)
                                        try:
                                            data = os.read(fd, size)
                                        except BlockingIOError:
                                            continue  # woken for nothing
                                except _CONNECTION_ERRORS:
                                    self._end("connection lost")
                                    break
                                if not data:
                                    await self._input_ended()
                                    break
                                self._received(data)
                                del data  # nothing of a read is held while waiting
                        self._scope = None
                        self._idle_check()
                await self._finish()
            finally:
                await self._ended()
        except Exception:
            # Never let one connection take the listener down.
            log.exception("telnet %s: session failed", self.info.peer)
        finally:
            flusher.sessions.discard(self)
        log.info("telnet %s: disconnected (%s)", self.info.peer, self._close_reason)

    async def _input_ended(self) -> None:
        """The end of input, or of a connection the kernel gave up on
        (keepalive, TCP_USER_TIMEOUT), which can read as an end before the
        error shows: then the pending error, or a write that was stuck,
        says what happened."""
        if self._broken():
            self._end("connection lost")
            return
        await self._writer_idle()
        if self._close_reason is None:
            self.close("client closed the connection")

    def _idle_check(self) -> None:
        """The reader's deadline passed (or it stopped): close the session if
        it has typed nothing for the idle timeout."""
        config = self._config
        if (
            self._close_reason is None
            and trio.current_time() >= self._last_line + config.idle_timeout
        ):
            self.send_text(config.idle_message + "\n")
            self.close("idle timeout")

    async def _ended(self) -> None:
        """Every way out sets a reason, except the server itself being
        cancelled. The handler hears first: closing the stream is a
        checkpoint, which raises when we are cancelled."""
        if self._close_reason is None:
            self._close_reason = "server shutting down"
        try:
            if self._handler is not None:
                self._call("on_disconnect", self._close_reason)
        finally:
            # The handler refers back to this session: drop our side, so
            # a closed connection is freed at once, not by a full GC
            # (which serve() makes rare), and a flood leaves no RSS.
            self._handler = None
            await trio.aclose_forcefully(self._stream)


def _writable_fd(stream: trio.SocketStream) -> int:
    """The socket's descriptor, for writing without a task switch, or -1
    where a socket cannot be written with ``os.write`` (Windows) or the
    stream has no descriptor: then every write goes through the writer task."""
    if sys.platform == "win32":
        return -1
    try:
        return stream.socket.fileno()
    except (AttributeError, OSError):
        return -1


def _peer_name(stream: trio.SocketStream) -> str:
    try:
        address = stream.socket.getpeername()
    except OSError:
        return "unknown"
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _tune_socket(stream: trio.SocketStream, config: TelnetConfig) -> None:
    """Keepalive finds peers that vanished without a FIN (half-open)."""
    try:
        stream.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in (
            ("TCP_KEEPIDLE", config.keepalive_idle),
            ("TCP_KEEPINTVL", config.keepalive_interval),
            ("TCP_KEEPCNT", config.keepalive_count),
            # Unacknowledged data older than this drops the connection (Linux).
            ("TCP_USER_TIMEOUT", int(config.write_timeout * 1000)),
        ):
            if hasattr(socket, name):
                stream.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
    except OSError:
        log.debug("telnet: could not set keepalive options", exc_info=True)


def _connection(
    stream: trio.SocketStream,
    ticket: Ticket,
    gateway: Gateway,
    config: TelnetConfig,
    mssp: Callable[[], Mapping[str, MsspValue]],
    flusher: _Flusher,
) -> Awaitable[None]:
    """A new connection's session, and what serves it: the session's own
    coroutine, not one wrapping it (a frame less held per connection)."""
    peer = _peer_name(stream)
    _tune_socket(stream, config)
    session = TelnetSession(stream, peer, config, flusher, mssp)
    ticket.attach(session)  # the gateway reports its login; else it times out
    log.info("telnet %s: connected", peer)
    return session.run(gateway)


def _normalise_host(host: str | None) -> str | None:
    """``None``, ``""`` or ``"*"`` is every interface; ``[::1]`` is ``::1``."""
    if host is None or host in ("", "*"):
        return None
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1]
    return host


async def serve_telnet(
    gateway: Gateway,
    host: str | None = "127.0.0.1",
    port: int = 4000,
    *,
    mssp_info: Callable[[], Mapping[str, MsspValue]] | None = None,
    config: TelnetConfig | None = None,
    admission: Admission | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Accept telnet connections on ``host``:``port`` until cancelled.

    ``host`` is an IPv4 or IPv6 address or a name (``None``: every
    interface). ``task_status.started`` receives the bound port, which is how
    tests pass ``port=0`` and learn where to connect; with port 0 only the
    first address ``host`` resolves to is used, so the port is unambiguous.
    ``mssp_info`` supplies MSSP variables (NAME, PLAYERS, ...); PORT and
    UPTIME default to the bound port and the time this call started.
    ``admission`` decides which connections are served (caps per address
    and before login, the pre-login timeout); share one with the other
    transports so they count together. None: one of its own, with defaults.
    """
    config = config or TelnetConfig()
    listeners = await trio.open_tcp_listeners(port, host=_normalise_host(host))
    if port == 0:
        for extra in listeners[1:]:
            await extra.aclose()
        listeners = listeners[:1]
    bound = listeners[0].socket.getsockname()[1]
    started_at = int(time.time())

    def mssp() -> dict[str, MsspValue]:
        values: dict[str, MsspValue] = {"PORT": bound, "UPTIME": started_at}
        if mssp_info is not None:
            values.update(mssp_info())
        return values

    flusher = _Flusher(config.coalesce_seconds)
    # A partial, not a wrapper coroutine: one frame less held per connection.
    handle = functools.partial(
        _connection, gateway=gateway, config=config, mssp=mssp, flusher=flusher
    )

    for listener in listeners:
        name = listener.socket.getsockname()
        log.info("telnet: listening on %s port %d", name[0], name[1])
    async with trio.open_nursery() as nursery:
        flusher.nursery = nursery
        nursery.start_soon(flusher.run)
        if config.compression_rest_after > 0:
            nursery.start_soon(flusher.rest_idle_streams, config.compression_rest_after)
        task_status.started(bound)
        await serve_admitted(
            handle, listeners, admission or Admission(), name="telnet", refusal=_refusal_line
        )


def _trim_heap() -> None:
    """Give freed heap back to the system (glibc; elsewhere nothing)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _refusal_line(message: str) -> bytes:
    """What a refused telnet client reads before the connection closes."""
    return message.encode("utf-8") + b"\r\n"
