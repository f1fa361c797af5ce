"""Wire formats: what a WebSocket frame means under each subprotocol.

A WebSocket client names the format it speaks in ``Sec-WebSocket-Protocol``
and the server picks one (RFC 6455 section 1.9). We follow the mudstandards.org
proposal for MUD subprotocols and add one JSON format of our own:

``terminal.mudstandards.org``
    BINARY frames carry UTF-8 text with ANSI control codes, both ways. Output
    uses CRLF line ends like a telnet stream. TEXT frames are not part of the
    proposal; we accept them as input too, since nothing else could be meant
    and it lets a plain tool such as ``websocat`` type commands.

``gmcp.mudstandards.org``
    BINARY frames as above; TEXT frames are GMCP messages in the usual
    ``Package.Name <json>`` form (the JSON part is absent when there is no
    data), both ways.

``json.jitrealm``
    TEXT frames each hold one JSON object, validated against the schemas
    next to this module. In: ``line``, ``gmcp`` and ``event`` messages; out:
    ``text``, ``prompt``, ``gmcp``, ``event`` and ``error`` messages. Text is
    sent with ANSI codes, like the other formats, so one renderer serves all.

Input is framed by messages, not by a byte stream: every message is one or
more complete lines (a trailing newline is optional, an empty message is an
empty line). Nothing is buffered across messages, so one client cannot leave
half a line in the server's memory.

The codecs here are pure: they turn frames into :data:`Input` values and
output into frames, and raise :class:`BadMessage` for what they cannot read.
Policy (what to do about a bad message) belongs to :mod:`driver.net.websocket`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

TERMINAL = "terminal.mudstandards.org"
GMCP = "gmcp.mudstandards.org"
JSON = "json.jitrealm"

#: Every subprotocol we speak. When a client offers several, its order wins
#: (RFC 6455: the client lists them by preference).
SUBPROTOCOLS: tuple[str, ...] = (GMCP, JSON, TERMINAL)

_SCHEMA_DIR = Path(__file__).parent
CLIENT_SCHEMA_FILE = _SCHEMA_DIR / "json-jitrealm.client.schema.json"
SERVER_SCHEMA_FILE = _SCHEMA_DIR / "json-jitrealm.server.schema.json"

# GMCP package names: dotted words, e.g. "Room.Info", "Core.Supports.Set".
_PACKAGE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*")
_MAX_PACKAGE = 128


class BadMessage(ValueError):
    """A frame that does not follow the negotiated subprotocol.

    ``code`` is a short machine-readable word (sent to JSON clients as the
    error's ``code``); the message says what was wrong in words a person can
    act on.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Line:
    """A line of player input, without its line end."""

    text: str


@dataclass(frozen=True, slots=True)
class Gmcp:
    """An out-of-band GMCP message from the client."""

    package: str
    data: Any


@dataclass(frozen=True, slots=True)
class Event:
    """A named client event (``json.jitrealm`` only), reserved for UIs such as
    declarative rooms whose buttons are not typed commands."""

    name: str
    payload: Any


Input = Line | Gmcp | Event
Frame = str | bytes  # str -> TEXT frame, bytes -> BINARY frame


def split_lines(text: str) -> list[Input]:
    """One message of input as lines: CRLF, LF or lone CR end a line, a final
    line end is optional, and an empty message is one empty line."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.endswith("\n"):
        text = text[:-1]
    return [Line(part) for part in text.split("\n")]


def _stream_text(text: str) -> bytes:
    """Output text as a terminal stream: UTF-8 with CRLF line ends."""
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def dumps(value: Any) -> str:
    """Compact JSON, as GMCP and our JSON format send it. Raises ``ValueError``
    or ``TypeError`` for what JSON cannot express (NaN, sets, objects)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(text: str) -> Any:
    """Strict JSON (no NaN/Infinity); every failure is a :class:`BadMessage`."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise BadMessage("bad-json", "JSON nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError is a ValueError
        raise BadMessage("bad-json", f"not valid JSON: {exc}") from None


def check_package(package: str) -> str:
    if len(package) > _MAX_PACKAGE or not _PACKAGE.fullmatch(package):
        raise BadMessage("bad-gmcp", f"not a GMCP package name: {package[:40]!r}")
    return package


def encode_gmcp_message(package: str, data: Any) -> str:
    """``Package.Name <json>``; just the name when ``data`` is None."""
    if data is None:
        return package
    return f"{package} {dumps(data)}"


def decode_gmcp_message(text: str) -> Gmcp:
    """Parse ``Package.Name <json>``; failures are ``bad-gmcp``."""
    package, _, rest = text.strip().partition(" ")
    try:
        check_package(package)
        rest = rest.strip()
        return Gmcp(package, loads(rest) if rest else None)
    except BadMessage as exc:
        raise BadMessage("bad-gmcp", f"bad GMCP message: {exc}") from None


def _decode_utf8(data: bytes) -> str:
    # Terminal input is typed text: a stray invalid byte should not cost the
    # player the whole line, so it becomes U+FFFD rather than an error.
    return data.decode("utf-8", errors="replace")


class WireFormat:
    """Base codec. Subclasses say how each kind of output becomes a frame and
    how an incoming frame becomes input."""

    name: str = ""
    #: Does the format carry GMCP at all? (Sets ``ClientInfo.gmcp``.)
    gmcp: bool = False
    #: Can the format carry an error reply (instead of a text notice)?
    errors: bool = False

    def text(self, ansi_text: str) -> Frame:
        raise NotImplementedError

    def prompt(self, ansi_text: str) -> Frame:
        raise NotImplementedError

    def gmcp_message(self, package: str, data: Any) -> Frame | None:
        return None

    def event(self, name: str, payload: Any) -> Frame | None:
        return None

    def error(self, code: str, message: str) -> Frame | None:
        return None

    def decode(self, frame: Frame) -> list[Input]:
        raise NotImplementedError


class TerminalFormat(WireFormat):
    """``terminal.mudstandards.org``: a bare ANSI terminal stream."""

    name = TERMINAL

    def text(self, ansi_text: str) -> Frame:
        return _stream_text(ansi_text)

    def prompt(self, ansi_text: str) -> Frame:
        # A prompt is a frame without a line end; the frame boundary is the
        # only "go ahead" signal a WebSocket stream has.
        return _stream_text(ansi_text)

    def decode(self, frame: Frame) -> list[Input]:
        text = frame if isinstance(frame, str) else _decode_utf8(frame)
        return split_lines(text)


class GmcpFormat(TerminalFormat):
    """``gmcp.mudstandards.org``: the terminal stream in BINARY frames plus
    GMCP in TEXT frames."""

    name = GMCP
    gmcp = True

    def gmcp_message(self, package: str, data: Any) -> Frame | None:
        return encode_gmcp_message(package, data)

    def decode(self, frame: Frame) -> list[Input]:
        if isinstance(frame, bytes):
            return split_lines(_decode_utf8(frame))
        return [decode_gmcp_message(frame)]


@cache
def client_validator() -> jsonschema.protocols.Validator:
    """The validator for messages a ``json.jitrealm`` client sends."""
    return _validator(CLIENT_SCHEMA_FILE)


@cache
def server_validator() -> jsonschema.protocols.Validator:
    """The validator for messages the server sends (used by tests and by
    anyone writing a client)."""
    return _validator(SERVER_SCHEMA_FILE)


def _validator(path: Path) -> jsonschema.protocols.Validator:
    schema = json.loads(path.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


class JsonFormat(WireFormat):
    """``json.jitrealm``: one JSON object per TEXT frame."""

    name = JSON
    gmcp = True
    errors = True

    def text(self, ansi_text: str) -> Frame:
        return dumps({"type": "text", "text": ansi_text})

    def prompt(self, ansi_text: str) -> Frame:
        return dumps({"type": "prompt", "text": ansi_text})

    def gmcp_message(self, package: str, data: Any) -> Frame | None:
        return dumps({"type": "gmcp", "package": package, "data": data})

    def event(self, name: str, payload: Any) -> Frame | None:
        return dumps({"type": "event", "name": name, "payload": payload})

    def error(self, code: str, message: str) -> Frame | None:
        return dumps({"type": "error", "code": code, "message": message})

    def decode(self, frame: Frame) -> list[Input]:
        if isinstance(frame, bytes):
            raise BadMessage("bad-frame", "json.jitrealm takes TEXT frames holding JSON objects")
        message = loads(frame)
        if _plain_event(message):
            # What a game client sends all the time, checked in a few steps: jsonschema
            # costs tens of microseconds a message. Anything else goes the long way.
            return [Event(message["name"], message.get("payload"))]
        error = jsonschema.exceptions.best_match(client_validator().iter_errors(message))
        if error is not None:
            where = "/".join(str(part) for part in error.absolute_path)
            detail = error.message if len(error.message) <= 200 else error.message[:200] + "..."
            raise BadMessage("bad-message", f"{where}: {detail}" if where else detail)
        match message["type"]:
            case "line":
                return split_lines(message["text"])
            case "gmcp":
                return [Gmcp(message["package"], message.get("data"))]
            case "event":
                return [Event(message["name"], message.get("payload"))]
        raise AssertionError(f"schema admitted unknown type {message['type']!r}")


_EVENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]*")


def _plain_event(message: Any) -> bool:
    """An ``event`` message the client schema takes for sure (name pattern and length,
    no other keys); see json-jitrealm.client.schema.json."""
    if type(message) is not dict or message.get("type") != "event" or not 2 <= len(message) <= 3:
        return False
    name = message.get("name")
    return (type(name) is str and len(name) <= 128 and _EVENT_NAME.fullmatch(name) is not None
            and all(k in ("type", "name", "payload") for k in message))


_FORMATS: dict[str, type[WireFormat]] = {
    TERMINAL: TerminalFormat,
    GMCP: GmcpFormat,
    JSON: JsonFormat,
}


def wire_format(subprotocol: str) -> WireFormat:
    """The codec for a negotiated subprotocol (one of :data:`SUBPROTOCOLS`)."""
    return _FORMATS[subprotocol]()


def choose_subprotocol(offered: list[str]) -> str | None:
    """Pick the first subprotocol the client offered that we speak (RFC 6455:
    the client lists them by preference); None if there is none."""
    for name in offered:
        if name in _FORMATS:
            return name
    return None
