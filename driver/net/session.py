"""One session abstraction behind every transport.

A transport (telnet, WebSocket) owns a connection and adapts it to
:class:`Session`, the one thing the rest of the driver talks to. Output is
text in JitRealm's colour markup (see :mod:`driver.net.ansi`) plus out-of-band
GMCP messages; input is lines (and GMCP messages from the client).

The flow:

* the transport accepts a connection, builds its ``Session`` subclass and
  calls ``gateway.connect(session)``, which returns a :class:`SessionHandler`;
* for every complete input line it calls ``handler.on_line(text)``; for every
  GMCP message ``handler.on_gmcp(package, data)``;
* when the connection ends (client quit, reaped, error) it calls
  ``handler.on_disconnect(reason)`` exactly once;
* the driver calls the ``Session`` methods to send. They never block: output
  is queued, and the transport's writer task drains the queue. A session whose
  queue passes its cap is closed (a client that does not read cannot make the
  server buffer without bound).
"""

from __future__ import annotations

import abc
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(slots=True)
class ClientInfo:
    """What negotiation told us about the client. Transports fill it in."""

    transport: str  # "telnet" or "websocket"
    peer: str  # "127.0.0.1:54321"
    terminal: str = ""  # TTYPE name
    width: int = 80  # NAWS (0 = do not wrap)
    height: int = 24
    ansi: bool = True  # may we send ANSI colour?
    utf8: bool = True
    gmcp: bool = False  # GMCP agreed
    # Core.Supports, lower-cased names. Replaced, never changed in place, so
    # that every session can start with the one shared empty set.
    gmcp_packages: AbstractSet[str] = frozenset()
    mtts: int = 0  # MTTS bit field


class Session(abc.ABC):
    """A connected client, as the driver sees it."""

    # Empty slots here let a transport's session class (one per connection)
    # do without a __dict__; subclasses that declare none still get one.
    __slots__ = ()

    info: ClientInfo

    @abc.abstractmethod
    def send_text(self, text: str) -> None:
        """Queue output text (markup allowed; a trailing newline is the caller's)."""

    @abc.abstractmethod
    def send_prompt(self, text: str) -> None:
        """Queue a prompt: text without newline, marked as a prompt (EOR/GA on telnet)."""

    @abc.abstractmethod
    def send_gmcp(self, package: str, data: Any) -> None:
        """Queue a GMCP message if the client agreed to GMCP and supports the
        package (``Room.Info`` needs ``room``); otherwise drop it silently."""

    def set_echo(self, on: bool) -> None:
        """Ask the client to stop (False) or resume (True) echoing what the
        user types: password entry. Telnet sends IAC WILL/WONT ECHO; a
        transport without such a notion ignores it."""
        return None

    @abc.abstractmethod
    def close(self, reason: str = "") -> None:
        """Flush what is queued (best effort), then end the connection."""

    def wants_gmcp(self, package: str) -> bool:
        """True if a GMCP ``package`` (e.g. ``Room.Info``) would reach the client."""
        if not self.info.gmcp:
            return False
        supported = self.info.gmcp_packages
        name = package.lower()
        while True:
            if name in supported:
                return True
            if "." not in name:
                return name == "core"
            name = name.rsplit(".", 1)[0]


class SessionHandler(Protocol):
    """What the driver gives a transport for one session."""

    def on_line(self, text: str) -> None: ...
    def on_gmcp(self, package: str, data: Any) -> None: ...
    def on_disconnect(self, reason: str) -> None: ...


class Gateway(Protocol):
    """The driver's front desk: turns a new session into a handler."""

    def connect(self, session: Session) -> SessionHandler: ...
