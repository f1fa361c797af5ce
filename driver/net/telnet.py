"""Telnet for MUD clients, as a sans-IO state machine.

:class:`TelnetProtocol` does no I/O, in the manner of h11 and wsproto: feed it
the bytes that arrived with :meth:`~TelnetProtocol.receive_data` and get
events back; tell it what to send (:meth:`~TelnetProtocol.send_text`,
:meth:`~TelnetProtocol.send_prompt`, :meth:`~TelnetProtocol.send_gmcp`) and
collect the bytes for the wire with :meth:`~TelnetProtocol.data_to_send`. The
transport (:mod:`driver.net.telnet_server`) owns the socket; tests drive the
machine with plain bytes.

Why our own: the Python telnet libraries are tied to an I/O framework
(telnetlib3 to asyncio, Twisted's conch to Twisted) or gone (``telnetlib``
left the standard library in 3.13), and none handles the options MUD clients
care about (MTTS, MSSP, MCCP2, GMCP, CHARSET) as plain state we can test. The
protocol is small; owning it keeps every byte's fate explicit.

What it speaks
==============

* Option negotiation with the Q method of RFC 1143 (six states per side per
  option), so no sequence of requests, however hostile, makes the two ends
  loop. :meth:`~TelnetProtocol.start` offers every option at once; nothing
  ever waits for an answer, so dumb clients (netcat) work unchanged.
* TTYPE with MTTS: up to four ``SEND`` rounds (client name, terminal type,
  ``MTTS <bits>``), stopping when an answer repeats; the bits fill
  :class:`~driver.net.session.ClientInfo`.
* NAWS (window size), CHARSET (RFC 2066; UTF-8 preferred, latin-1 or ASCII
  when the client says so or refuses), EOR and SGA (how prompts end), MCCP2
  (compress everything after ``IAC SB MCCP2 IAC SE``, one sync flush per
  :meth:`~TelnetProtocol.data_to_send`), MSSP (server status for crawlers)
  and GMCP (``Core.Hello``, ``Core.Supports.*`` and ``Core.Ping`` handled
  here; other messages become :class:`Gmcp` events).
* ECHO only when the server asks for it (hiding a password).
* Input lines end at CR LF, CR NUL, LF CR, bare CR or bare LF; backspace and DEL
  edit the line; other control characters and terminal escape sequences are
  dropped; lines decode as UTF-8, any byte that is not UTF-8 as latin-1.

Hostile input
=============

No input raises, and what is kept between calls is bounded: an input line
is cut at :attr:`TelnetLimits.max_line` bytes (the :class:`Line` says so), a
subnegotiation longer than :attr:`TelnetLimits.max_subnegotiation` is
dropped whole, and everything else is a few bytes of parser state. So the
input buffered by the machine never exceeds ``max_line +
max_subnegotiation``. Oddities are reported as :class:`ProtocolViolation`
events, for logging, and otherwise ignored.

Work is bounded too, not only memory: a subnegotiation's payload is taken a
run at a time (everything up to a lone IAC, doubled IACs included, found by
the regex engine), and past the cap it is only counted, never copied, until
its ``IAC SE``. A byte-at-a-time loop parsed an endless 10 MB subnegotiation
at about 1 MB/s while every other client waited; now 10 MB takes 0.01 to
0.3 s, the worst case being a payload of escaped 255s. The count,
:attr:`subnegotiation_bytes_dropped`, lets the transport close a client that
keeps sending such things.

Output grows only when the transport does not collect it; capping it (and
closing the connection) is the transport's job, see :attr:`bytes_pending`.
"""

from __future__ import annotations

import json
import logging
import re
import time
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import Any, NamedTuple

from driver.net.session import ClientInfo

__all__ = [
    "DEFAULT_OPTIONS",
    "encode_text",
    "CharsetAgreed",
    "CharsetRefused",
    "Event",
    "Gmcp",
    "GmcpHello",
    "GmcpSupportsChanged",
    "Line",
    "MsspValue",
    "Mtts",
    "NawsChanged",
    "Opt",
    "OptionAgreed",
    "OptionEnded",
    "OptionRefused",
    "ProtocolViolation",
    "TelnetLimits",
    "TelnetProtocol",
    "TerminalType",
]

log = logging.getLogger(__name__)

# Commands (RFC 854, RFC 885 for EOR).
IAC, DONT, DO, WONT, WILL, SB = 255, 254, 253, 252, 251, 250
GA, EL, EC, AYT, AO, IP, BRK, DM, NOP, SE, EOR = 249, 248, 247, 246, 245, 244, 243, 242, 241, 240, 239  # fmt: skip

NUL, BS, TAB, LF, CR, ESC, DEL = 0, 8, 9, 10, 13, 27, 127

# Subnegotiation codes.
TTYPE_IS, TTYPE_SEND = 0, 1
CHARSET_REQUEST, CHARSET_ACCEPTED, CHARSET_REJECTED = 1, 2, 3
CHARSET_TTABLE_IS, CHARSET_TTABLE_REJECTED = 4, 5
MSSP_VAR, MSSP_VAL = 1, 2


class Opt(IntEnum):
    """The telnet options this server knows."""

    ECHO = 1
    SGA = 3
    TTYPE = 24
    EOR = 25
    NAWS = 31
    CHARSET = 42
    MSSP = 70
    MCCP2 = 86
    GMCP = 201


class Mtts(IntFlag):
    """The bits of an ``MTTS <n>`` terminal type (Mud Terminal Type Standard)."""

    ANSI = 1
    VT100 = 2
    UTF8 = 4
    COLOURS_256 = 8
    MOUSE_TRACKING = 16
    OSC_COLOR_PALETTE = 32
    SCREEN_READER = 64
    PROXY = 128
    TRUECOLOR = 256
    MNES = 512
    MSLP = 1024
    SSL = 2048


# Which side performs each option we speak. "Local" options are ours (we say
# WILL), "remote" ones the client's (we say DO). CHARSET may be either.
_LOCAL = frozenset({Opt.ECHO, Opt.SGA, Opt.EOR, Opt.CHARSET, Opt.MSSP, Opt.MCCP2, Opt.GMCP})
_REMOTE = frozenset({Opt.SGA, Opt.TTYPE, Opt.NAWS, Opt.CHARSET})
# Offered on connect, in this order. ECHO is only ever used on request
# (hiding a password), SGA is offered as a WILL only.
_OFFER_LOCAL = (Opt.GMCP, Opt.MCCP2, Opt.MSSP, Opt.EOR, Opt.SGA, Opt.CHARSET)
_OFFER_REMOTE = (Opt.TTYPE, Opt.NAWS)

DEFAULT_OPTIONS: frozenset[Opt] = frozenset(_OFFER_LOCAL + _OFFER_REMOTE)

# Charset names as clients spell them, mapped to the Python codec we use.
_CHARSETS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "iso-8859-1": "latin-1",
    "iso8859-1": "latin-1",
    "iso_8859-1": "latin-1",
    "latin1": "latin-1",
    "latin-1": "latin-1",
    "us-ascii": "ascii",
    "ascii": "ascii",
}
_CHARSET_REQUEST = b";UTF-8;ISO-8859-1;US-ASCII"

# MCCP2's zlib stream. Every turn ends with a sync flush, which finishes a
# deflate block (Huffman trees and all) for what is often one line, and in
# a crowded room that is once per line per listener: zlib's fastest kind of
# matching costs about a third less there than the default level 6 for
# output 5% larger (level 3: 9.6 against 10.1 times smaller in a test of
# looks, says and walks). Among those levels, 1 searches the shortest hash
# chains: with a stream per listener, the chain walks are cache misses, and
# level 1 delivered a say to 200 listeners (half of them MCCP2) with about
# 12% less CPU than level 3, for output 10-14% larger (6.4 against 7.1
# times smaller for a mix of looks and says, 3.3 against 3.7 for says alone,
# a sync flush per turn). zlib's window (32 KiB, so the usual stream
# header) with a small hash table: memory level 4 holds about 28 KiB per
# idle connection against the default's 92 (the window's pages are only
# touched as output fills them) and compresses MUD output as well.
_MCCP_LEVEL = 1
_MCCP_WINDOW_BITS = 15
_MCCP_MEM_LEVEL = 4

_Z_SYNC_FLUSH = zlib.Z_SYNC_FLUSH

_IAC_EOR = bytes((IAC, EOR))
_IAC_GA = bytes((IAC, GA))

_PLAIN_RUN = re.compile(rb"[\x20-\x7e\x80-\xfe]+")
# What a client in line mode sends for each command: one whole line of
# such bytes, ended by CR LF, in one read.
_ONE_LINE = re.compile(rb"[\x20-\x7e\x80-\xfe]*\r\n")
# A subnegotiation's payload as it travels: any byte but IAC, or IAC IAC.
_SB_PAYLOAD = re.compile(rb"(?:[^\xff]+|\xff\xff)*")
_GMCP_PACKAGE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")
_PROCESS_START = int(time.time())

MsspValue = str | int | bool | Sequence[str]


# ---------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class Line:
    """A complete input line. ``truncated``: it was longer than the cap and cut."""

    text: str
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class Gmcp:
    """A GMCP message the driver should see (``Core.*`` housekeeping is not)."""

    package: str
    data: Any = None


@dataclass(frozen=True, slots=True)
class GmcpHello:
    """``Core.Hello``: the client named itself."""

    client: str
    version: str


@dataclass(frozen=True, slots=True)
class GmcpSupportsChanged:
    """``Core.Supports.*`` changed the packages the client wants."""

    packages: frozenset[str]


@dataclass(frozen=True, slots=True)
class NawsChanged:
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class TerminalType:
    """One TTYPE answer. ``mtts`` is set when the answer was ``MTTS <n>``."""

    name: str
    mtts: int | None = None


@dataclass(frozen=True, slots=True)
class CharsetAgreed:
    """Output is now encoded with ``charset`` (``utf-8``, ``latin-1``, ``ascii``)."""

    charset: str


@dataclass(frozen=True, slots=True)
class CharsetRefused:
    """The client refused every charset we asked for; ``fallback`` is used."""

    fallback: str


@dataclass(frozen=True, slots=True)
class OptionAgreed:
    """An option is now on. ``local``: we perform it (WILL), else the client does."""

    option: int
    local: bool


@dataclass(frozen=True, slots=True)
class OptionRefused:
    """The other side refused an option we asked for."""

    option: int
    local: bool


@dataclass(frozen=True, slots=True)
class OptionEnded:
    """An option that was on is now off."""

    option: int
    local: bool


@dataclass(frozen=True, slots=True)
class ProtocolViolation:
    """The client sent something malformed; it was ignored. For logs."""

    reason: str


Event = (
    Line
    | Gmcp
    | GmcpHello
    | GmcpSupportsChanged
    | NawsChanged
    | TerminalType
    | CharsetAgreed
    | CharsetRefused
    | OptionAgreed
    | OptionRefused
    | OptionEnded
    | ProtocolViolation
)


@dataclass(frozen=True, slots=True)
class TelnetLimits:
    """Caps on what one connection can make the machine hold or do."""

    max_line: int = 4096  # bytes of one input line; the rest is cut
    max_subnegotiation: int = 16384  # bytes of one SB payload; longer ones are dropped
    max_ttype_rounds: int = 4  # TTYPE SENDs per connection (MTTS needs 3)
    max_gmcp_packages: int = 256  # entries in Core.Supports


# ---------------------------------------------------------------- RFC 1143


class _Q(IntEnum):
    NO = 0
    YES = 1
    WANTNO = 2
    WANTYES = 3


class _Side(NamedTuple):
    """One side of one option: state plus the RFC 1143 queue bit. Immutable,
    and only eight of them exist (see _SIDES): a connection's negotiation
    state is one small object per option, whatever happens to it."""

    state: _Q
    opposite: bool  # the queue bit: OPPOSITE when True, EMPTY when False


class _OptionState(NamedTuple):
    """Both sides of one option. Immutable too, and all 64 exist once (see
    _OPTION_STATES): an option's state costs a connection a dict entry."""

    us: _Side
    him: _Side

    def side(self, local: bool) -> _Side:
        return self.us if local else self.him


_SIDES = {(state, opposite): _Side(state, opposite) for state in _Q for opposite in (False, True)}
_NO = _SIDES[(_Q.NO, False)]
_OPTION_STATES = {
    (us, him): _OptionState(us, him) for us in _SIDES.values() for him in _SIDES.values()
}

# A connection's options (option -> state) are a dict that is never changed
# in place, only replaced, and one dict serves every connection whose
# options stand the same: clients of one kind end negotiation alike, so a
# thousand idle sessions share a handful of these instead of holding one
# each. The bound only matters against clients that make up new mixtures;
# dropping the table costs sharing, not correctness.
_SharedOptions = dict[int, _OptionState]
_SHARED_OPTIONS: dict[tuple[tuple[int, _OptionState], ...], _SharedOptions] = {}
_MAX_SHARED_OPTIONS = 4096
_NO_OPTIONS: _SharedOptions = {}


def _shared_options(options: _SharedOptions) -> _SharedOptions:
    key = tuple(sorted(options.items()))
    found = _SHARED_OPTIONS.get(key)
    if found is None:
        if len(_SHARED_OPTIONS) >= _MAX_SHARED_OPTIONS:
            _SHARED_OPTIONS.clear()
        found = _SHARED_OPTIONS[key] = options
    return found


# ---------------------------------------------------------------- the machine


class _In(IntEnum):
    DATA = 0
    IAC = 1
    VERB = 2  # after IAC WILL/WONT/DO/DONT, waiting for the option
    SB_OPTION = 3  # after IAC SB
    SB = 4
    SB_IAC = 5
    ESCAPE = 6  # inside a terminal escape sequence typed into a line


class TelnetProtocol:
    """One telnet connection's protocol state, without any I/O.

    ``info`` is updated in place as negotiation learns about the client.
    ``mssp`` returns the server's MSSP variables when a crawler asks (see
    :meth:`mssp_variables`). ``options`` are the options offered and agreed
    to; by default all of them.
    """

    # A server holds one of these per connection, most of them idle: slots
    # keep each a fixed handful of pointers instead of a dict.
    __slots__ = (
        "info", "limits", "_mssp", "_options", "_opts", "_prompt_end",
        "_in", "_verb", "_line", "_line_truncated", "_after_eol", "_escape_len",
        "_sb_option", "_sb", "_sb_overflow", "_sb_dropped", "_events",
        "_out", "_out_size", "_plain", "_plain_size", "_compressor", "_resting",
        "_ttype_rounds", "_ttype_waiting", "_ttype_answers", "_charset_requested",
        "_charset_waiting", "_encoding", "_charset", "_charset_refused",
    )  # fmt: skip

    def __init__(
        self,
        info: ClientInfo | None = None,
        *,
        limits: TelnetLimits | None = None,
        mssp: Callable[[], Mapping[str, MsspValue]] | None = None,
        options: Iterable[Opt] = DEFAULT_OPTIONS,
    ) -> None:
        self.info = info if info is not None else ClientInfo(transport="telnet", peer="")
        self.limits = limits or TelnetLimits()
        self._mssp = mssp
        self._options = frozenset(options)
        self._opts: _SharedOptions = _NO_OPTIONS  # shared: replaced, never changed
        self._prompt_end = _IAC_GA  # what ends a prompt, with the options as they stand

        # Input parser.
        self._in = _In.DATA
        self._verb = 0
        self._line = bytearray()
        self._line_truncated = False
        self._after_eol = 0  # CR or LF if the last byte ended a line
        self._escape_len = 0
        self._sb_option = 0
        self._sb = bytearray()
        self._sb_overflow = False
        self._sb_dropped = 0  # payload bytes dropped over the cap, ever
        self._events: list[Event] = []

        # Output: bytes ready for the wire, and plain bytes waiting to be
        # compressed while MCCP2 is on. Lists of the pieces as queued, not
        # one growing buffer: a rendered line is often one bytes object
        # shared by every session of a kind (see driver.net.render), and a
        # turn's output is then written, or compressed, without a copy.
        self._out: list[bytes] = []
        self._out_size = 0
        self._plain: list[bytes] = []
        self._plain_size = 0
        self._compressor: Any = None  # zlib compress object while MCCP2 is on
        # MCCP2 is on but its stream was ended while the connection was idle
        # (rest_compression): the next output starts a new stream.
        self._resting = False

        # Negotiation progress.
        self._ttype_rounds = 0
        self._ttype_waiting = False
        self._ttype_answers: list[str] = []
        self._charset_requested = False
        self._charset_waiting = False
        self._encoding = "utf-8"
        self._charset: str | None = None  # the codec CHARSET agreed, if any
        self._charset_refused = False

    # ------------------------------------------------------------ public API

    def start(self) -> None:
        """Offer every option (queue ``IAC WILL``/``IAC DO``). Call once, first."""
        for opt in _OFFER_LOCAL:
            if opt in self._options:
                self.enable(opt, local=True)
        for opt in _OFFER_REMOTE:
            if opt in self._options:
                self.enable(opt, local=False)

    def receive_data(self, data: bytes) -> list[Event]:
        """Parse bytes from the client; return what they meant, in order."""
        if (
            self._in is _In.DATA
            and not self._line
            and not self._line_truncated
            and not self._after_eol
            and len(data) - 2 <= self.limits.max_line
            and _ONE_LINE.fullmatch(data)
        ):
            # A command, whole, between lines (the read most clients make):
            # the line the byte-by-byte path would end with, and the state
            # it would leave, which is the state now.
            return [Line(_decode_line(data[:-2], False))]
        events: list[Event] = []
        self._events = events
        i, end = 0, len(data)
        while i < end:
            if self._in is _In.DATA:
                # Fast path: a run of printable bytes goes to the line at once.
                run = _PLAIN_RUN.match(data, i)
                if run is not None:
                    self._after_eol = 0
                    room = self.limits.max_line - len(self._line)
                    chunk = run.group()
                    if len(chunk) > room:
                        chunk = chunk[: max(0, room)]
                        self._line_truncated = True
                    self._line += chunk
                    i = run.end()
                    continue
            elif self._in is _In.SB:
                # Fast path: the payload (data bytes and doubled IACs) up to
                # a lone IAC, found by the regex engine, not byte by byte.
                # The lone IAC (IAC SE, or a pair split across reads) takes
                # the byte path.
                # (At most 64 KiB a step: the engine's work stays linear.)
                window = min(end, i + 65536)
                stop = _SB_PAYLOAD.match(data, i, window).end()  # type: ignore[union-attr]  # matches empty
                if stop > i:
                    self._sb_take(data, i, stop)
                    i = stop
                    continue
            self._receive_byte(data[i])
            i += 1
        self._events = []
        return events

    def send_text(self, text: str) -> None:
        """Queue text: newlines become CR LF, IAC is doubled, charset applied."""
        self._write(encode_text(text, self._encoding))

    def send_prompt(self, text: str) -> None:
        """Queue a prompt and mark its end: ``IAC EOR`` if agreed, else
        ``IAC GA`` unless the client agreed to suppress go-ahead."""
        self.send_encoded_prompt(encode_text(text, self._encoding))

    def send_encoded(self, data: bytes) -> None:
        """Queue text already encoded for this connection: what
        :func:`encode_text` makes of it with :attr:`encoding`."""
        # _write, inlined: this is once per line per session.
        if self._compressor is not None:
            self._plain.append(data)
            self._plain_size += len(data)
        elif self._resting:
            self._wake_compression()
            self._write(data)
        else:
            self._out.append(data)
            self._out_size += len(data)

    def send_encoded_within(self, data: bytes, limit: int) -> bool:
        """:meth:`send_encoded`, unless that would make :attr:`bytes_pending`
        more than ``limit``: then False, and nothing queued. (One call per
        line per session: the transport's cap, checked here.)"""
        size = len(data)
        if self._out_size + self._plain_size + size > limit:
            return False
        if self._compressor is not None:
            self._plain.append(data)
            self._plain_size += size
        elif self._resting:
            self._wake_compression()
            self._write(data)
        else:
            self._out.append(data)
            self._out_size += size
        return True

    def send_encoded_prompt(self, data: bytes) -> None:
        """:meth:`send_prompt` for text already encoded (see :meth:`send_encoded`)."""
        mark = self._prompt_end
        self._write(data + mark if mark else data)

    def send_gmcp(self, package: str, data: Any = None) -> bool:
        """Queue a GMCP message (``data`` None: no payload). False, and
        nothing queued, unless GMCP is on. Raises ``TypeError`` or
        ``ValueError`` when ``data`` is not JSON-serialisable or
        ``package`` is not a GMCP package name: those are bugs in the caller."""
        if not _GMCP_PACKAGE.fullmatch(package):
            raise ValueError(f"not a GMCP package name: {package!r}")
        if not self.enabled(Opt.GMCP, local=True):
            return False
        payload = package
        if data is not None:
            payload += " " + json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        self._send_sb(Opt.GMCP, payload.encode("utf-8"))
        return True

    def data_to_send(self) -> bytes:
        """Collect everything queued for the wire (compressed if MCCP2 is on:
        all of it in one piece of the stream, with one sync flush)."""
        # Once per session per turn: the usual cases (only compressed
        # output, or only plain) return without joining anything.
        plain = self._plain
        out = self._out
        if plain:
            compressor = self._compressor
            data: bytes = compressor.compress(plain[0] if len(plain) == 1 else b"".join(plain))
            data += compressor.flush(_Z_SYNC_FLUSH)
            self._plain = []
            self._plain_size = 0
            if not out:
                return data
            out.append(data)
        elif not out:
            return b""
        self._out = []
        self._out_size = 0
        return out[0] if len(out) == 1 else b"".join(out)

    def finish(self) -> None:
        """Before closing: end the MCCP2 stream cleanly, if one is running."""
        self._stop_compression()

    @property
    def bytes_pending(self) -> int:
        """Bytes queued and not yet collected (uncompressed size under MCCP2)."""
        return self._out_size + self._plain_size

    @property
    def buffered_input(self) -> int:
        """Input bytes held between calls: a partial line and a partial SB."""
        return len(self._line) + len(self._sb)

    @property
    def subnegotiation_bytes_dropped(self) -> int:
        """Subnegotiation payload bytes dropped for being over the cap, in
        all; counted as they arrive, not when the subnegotiation ends."""
        return self._sb_dropped

    @property
    def encoding(self) -> str:
        """The codec output text is encoded with."""
        return self._encoding

    def enabled(self, option: int, *, local: bool) -> bool:
        """True if ``option`` is on for that side (``local``: ours)."""
        st = self._opts.get(option)
        return st is not None and st.side(local).state == _Q.YES

    def enable(self, option: int, *, local: bool, insist: bool = False) -> None:
        """Ask for an option (RFC 1143 'we want it on').

        ``insist``: if our last request to turn it off was never answered
        (WANTNO), take it as answered and ask again at once, instead of
        queueing the request behind an answer that may never come. This is
        for ECHO: TinTin++ deliberately never answers ``WONT ECHO`` (its
        guard against negotiation loops), so a server that waits for the
        ``DONT`` never claims the echo again, and every password after the
        first shows in clear. A late ``DONT`` still settles: it refuses the
        new ``WILL``, and the client's ``DO`` then agrees to it again.
        """
        state, opposite = self._side(option, local)
        if insist and state == _Q.WANTNO:
            state, opposite = _Q.NO, False
        if state == _Q.NO:
            self._set_side(option, local, _Q.WANTYES, opposite)
            self._send_verb(option, local, True)
        elif state == _Q.WANTNO:
            self._set_side(option, local, state, True)
        elif state == _Q.WANTYES:
            self._set_side(option, local, state, False)
        else:
            self._set_side(option, local, state, opposite)  # YES: already on.

    def disable(self, option: int, *, local: bool) -> None:
        """Ask for an option to be off (RFC 1143 'we want it off')."""
        state, opposite = self._side(option, local)
        if state == _Q.YES:
            self._set_side(option, local, _Q.WANTNO, opposite)
            # From our point of view it stops now; the answer only confirms.
            self._disabled(option, local)
            self._send_verb(option, local, False)
        elif state == _Q.WANTYES:
            self._set_side(option, local, state, True)
        elif state == _Q.WANTNO:
            self._set_side(option, local, state, False)
        else:
            self._set_side(option, local, state, opposite)  # NO: already off.

    def mssp_variables(self) -> dict[str, list[str]]:
        """The MSSP variables we send: the server's, over our defaults."""
        values: dict[str, MsspValue] = {
            "NAME": "JitRealm",
            "PLAYERS": 0,
            "UPTIME": _PROCESS_START,
            "CODEBASE": "JitRealm",
            "CRAWL DELAY": -1,
            "UTF-8": True,
            "ANSI": True,
            "GMCP": Opt.GMCP in self._options,
            "MCCP": Opt.MCCP2 in self._options,
            "MSDP": False,
            "MXP": False,
            "SSL": False,
        }
        if self._mssp is not None:
            try:
                values.update(self._mssp())
            except Exception:  # a bug in the server's callable must not end the session
                log.exception("MSSP callable failed; sending defaults")
        out: dict[str, list[str]] = {}
        for name, value in values.items():
            if isinstance(value, bool):
                items = ["1" if value else "0"]
            elif isinstance(value, list | tuple | set | frozenset):
                items = [str(v) for v in value]
            else:
                items = [str(value)]
            out[_mssp_clean(name).upper()] = [_mssp_clean(v) for v in items]
        return out

    # ------------------------------------------------------------ input

    def _receive_byte(self, b: int) -> None:
        state = self._in
        if state is _In.DATA:
            if b == IAC:
                self._in = _In.IAC
            else:
                self._data_byte(b)
        elif state is _In.IAC:
            self._in = _In.DATA
            self._command(b)
        elif state is _In.VERB:
            self._in = _In.DATA
            self._negotiation(self._verb, b)
        elif state is _In.SB_OPTION:
            self._sb_option = b
            self._sb.clear()
            self._sb_overflow = False
            self._in = _In.SB
        elif state is _In.SB:
            if b == IAC:
                self._in = _In.SB_IAC
            else:
                self._sb_byte(b)
        elif state is _In.SB_IAC:
            if b == IAC:
                self._in = _In.SB
                self._sb_byte(IAC)
            elif b == SE:
                self._in = _In.DATA
                self._end_subnegotiation()
            else:
                # RFC 855 allows only IAC IAC and IAC SE here. Treat it as the
                # client having abandoned the SB: drop it and read the command.
                self._violation(f"subnegotiation of option {self._sb_option} not terminated")
                self._sb.clear()
                self._in = _In.DATA
                self._command(b)
        else:  # _In.ESCAPE
            self._escape_byte(b)

    def _command(self, b: int) -> None:
        """The byte after IAC, outside a subnegotiation."""
        if b == IAC:
            self._data_byte(IAC)
        elif b in (WILL, WONT, DO, DONT):
            self._verb = b
            self._in = _In.VERB
        elif b == SB:
            self._in = _In.SB_OPTION
        elif b == EC:
            self._erase_char()
        elif b == EL:
            self._line.clear()
            self._line_truncated = False
        elif b == AYT:
            self.send_text("[yes]\n")
        elif b in (NOP, DM, GA, EOR, IP, BRK, AO):
            pass  # nothing to do for a line-oriented game
        elif b == SE:
            self._violation("IAC SE outside a subnegotiation")
        else:
            # IAC followed by a data byte: a client that forgot to double 255.
            self._violation(f"IAC followed by data byte {b}")
            self._data_byte(b)

    def _data_byte(self, b: int) -> None:
        if b == CR or b == LF:
            # CR LF, CR NUL, LF CR and either alone all end one line.
            if self._after_eol == (LF if b == CR else CR):
                self._after_eol = 0
            else:
                self._end_line()
                self._after_eol = b
            return
        if b == NUL:
            self._after_eol = 0
            return
        self._after_eol = 0
        if b in (BS, DEL):
            self._erase_char()
        elif b == TAB:
            self._append(32)
        elif b == ESC:
            self._in = _In.ESCAPE
            self._escape_len = 0
        elif b >= 32:
            self._append(b)
        # Other control characters mean nothing in a line; drop them.

    def _escape_byte(self, b: int) -> None:
        """Swallow a terminal escape sequence (arrow keys in character mode)."""
        self._escape_len += 1
        if b == IAC:
            self._in = _In.IAC
        elif b in (CR, LF):
            self._in = _In.DATA
            self._data_byte(b)
        elif self._escape_len == 1:
            # ESC [ and ESC O introduce a sequence; ESC x is complete.
            if b not in (ord("["), ord("O")):
                self._in = _In.DATA
        elif 0x40 <= b <= 0x7E or self._escape_len > 16:
            self._in = _In.DATA

    def _append(self, b: int) -> None:
        if len(self._line) < self.limits.max_line:
            self._line.append(b)
        else:
            self._line_truncated = True

    def _erase_char(self) -> None:
        """Erase one character: a whole UTF-8 sequence if the line ends in one."""
        line = self._line
        if not line:
            return
        n = 1
        while n <= 3 and n < len(line) and 0x80 <= line[-n] <= 0xBF:
            n += 1
        lead = line[-n]
        if n > 1 and not (0xC0 <= lead <= 0xF7):
            n = 1  # not UTF-8 (latin-1 bytes): one byte is one character
        del line[-n:]

    def _end_line(self) -> None:
        text = _decode_line(bytes(self._line), self._line_truncated)
        self._events.append(Line(text, self._line_truncated))
        self._line.clear()
        self._line_truncated = False

    def _sb_byte(self, b: int) -> None:
        if len(self._sb) < self.limits.max_subnegotiation:
            self._sb.append(b)
        else:
            self._sb_overflow = True
            self._sb_dropped += 1

    def _sb_take(self, data: bytes, start: int, stop: int) -> None:
        """Payload ``data[start:stop]``, in which every IAC is doubled: kept
        (unescaped) up to the cap; past it only counted, never copied."""
        room = self.limits.max_subnegotiation - len(self._sb)
        if room <= 0:
            self._sb_overflow = True
            self._sb_dropped += stop - start - data.count(b"\xff\xff", start, stop)
            return
        payload = data[start:stop].replace(b"\xff\xff", b"\xff")
        if len(payload) > room:
            self._sb_overflow = True
            self._sb_dropped += len(payload) - room
            payload = payload[:room]
        self._sb += payload

    def _end_subnegotiation(self) -> None:
        payload = bytes(self._sb)
        self._sb.clear()
        if self._sb_overflow:
            self._sb_overflow = False
            self._violation(
                f"subnegotiation of option {self._sb_option} longer than "
                f"{self.limits.max_subnegotiation} bytes; dropped"
            )
            return
        opt = self._sb_option
        if opt == Opt.TTYPE:
            self._sb_ttype(payload)
        elif opt == Opt.NAWS:
            self._sb_naws(payload)
        elif opt == Opt.CHARSET:
            self._sb_charset(payload)
        elif opt == Opt.GMCP:
            self._sb_gmcp(payload)
        else:
            self._violation(f"unexpected subnegotiation for option {opt}")

    # ------------------------------------------------------------ RFC 1143

    def _side(self, option: int, local: bool) -> _Side:
        st = self._opts.get(option)
        return _NO if st is None else st.side(local)

    def _set_side(self, option: int, local: bool, state: _Q, opposite: bool) -> None:
        """Record one side (and so keep state for the option from now on)."""
        opts = self._opts
        st = opts.get(option)
        us, him = (_NO, _NO) if st is None else st
        if local:
            us = _SIDES[(state, opposite)]
        else:
            him = _SIDES[(state, opposite)]
        new = _OPTION_STATES[(us, him)]
        if new is not st:
            self._opts = opts = _shared_options({**opts, option: new})
            # How a prompt ends follows from the options: worked out when
            # they change, not at every prompt.
            eor, sga = opts.get(Opt.EOR), opts.get(Opt.SGA)
            if eor is not None and eor.us.state == _Q.YES:
                self._prompt_end = _IAC_EOR
            elif sga is not None and sga.us.state == _Q.YES:
                self._prompt_end = b""
            else:
                self._prompt_end = _IAC_GA

    def _accepts(self, option: int, local: bool) -> bool:
        if option not in self._options:
            return False
        return option in (_LOCAL if local else _REMOTE)

    def _negotiation(self, verb: int, option: int) -> None:
        local = verb in (DO, DONT)  # DO/DONT are about what *we* do
        if verb in (WILL, DO):
            self._receive_positive(option, local)
        else:
            self._receive_negative(option, local)

    def _receive_positive(self, option: int, local: bool) -> None:
        """WILL (about the client) or DO (about us) arrived."""
        if option not in self._opts:
            if not self._accepts(option, local):
                # Refuse without keeping state for options we never speak, so
                # a client naming all 256 options costs us nothing.
                self._send_verb(option, local, False)
                return
            self._set_side(option, local, _Q.NO, False)
        state, opposite = self._side(option, local)
        if state == _Q.NO:
            if self._accepts(option, local):
                self._set_side(option, local, _Q.YES, opposite)
                self._send_verb(option, local, True)
                self._enabled(option, local)
            else:
                self._send_verb(option, local, False)
        elif state == _Q.WANTNO:
            # The negative we sent was answered positively: a broken peer.
            if opposite:
                self._set_side(option, local, _Q.YES, False)
                self._enabled(option, local)
            else:
                self._set_side(option, local, _Q.NO, opposite)
            self._violation(f"option {option}: our refusal answered with agreement")
        elif state == _Q.WANTYES:
            if opposite:
                self._set_side(option, local, _Q.WANTNO, False)
                self._send_verb(option, local, False)
            else:
                self._set_side(option, local, _Q.YES, opposite)
                self._enabled(option, local)
        # YES: already on; answering again is what makes naive ends loop.

    def _receive_negative(self, option: int, local: bool) -> None:
        """WONT (about the client) or DONT (about us) arrived."""
        if option not in self._opts:
            return  # NO already, by definition
        state, opposite = self._side(option, local)
        if state == _Q.YES:
            self._set_side(option, local, _Q.NO, opposite)
            self._disabled(option, local)
            self._send_verb(option, local, False)
            self._events.append(OptionEnded(option, local))
        elif state == _Q.WANTNO:
            if opposite:
                self._set_side(option, local, _Q.WANTYES, False)
                self._send_verb(option, local, True)
            else:
                self._set_side(option, local, _Q.NO, opposite)
        elif state == _Q.WANTYES:
            self._set_side(option, local, _Q.NO, False)
            if not opposite:
                self._refused(option, local)
        # NO: ignore.

    def _send_verb(self, option: int, local: bool, positive: bool) -> None:
        if local:
            verb = WILL if positive else WONT
        else:
            verb = DO if positive else DONT
        self._write(bytes((IAC, verb, option)))

    def _enabled(self, option: int, local: bool) -> None:
        """An option just became YES: start using it."""
        self._events.append(OptionAgreed(option, local))
        if local:
            if option == Opt.MCCP2:
                self._start_compression()
            elif option == Opt.MSSP:
                self._send_mssp()
            elif option == Opt.GMCP:
                self.info.gmcp = True
            elif option == Opt.CHARSET:
                self._request_charset()
        else:
            if option == Opt.TTYPE:
                self._request_ttype()
            elif option == Opt.CHARSET:
                self._request_charset()

    def _disabled(self, option: int, local: bool) -> None:
        """An option stopped being YES: stop using it."""
        if local:
            if option == Opt.MCCP2:
                self._stop_compression()
            elif option == Opt.GMCP:
                self.info.gmcp = False
        elif option == Opt.TTYPE:
            self._ttype_waiting = False

    def _refused(self, option: int, local: bool) -> None:
        # Nothing to undo: an option is only used once it is YES.
        self._events.append(OptionRefused(option, local))

    # ------------------------------------------------------------ output

    def _write(self, data: bytes) -> None:
        if self._compressor is not None:
            self._plain.append(data)
            self._plain_size += len(data)
        elif self._resting:
            self._wake_compression()
            self._write(data)
        else:
            self._out.append(data)
            self._out_size += len(data)

    def _send_sb(self, option: int, payload: bytes) -> None:
        self._write(
            bytes((IAC, SB, option)) + payload.replace(b"\xff", b"\xff\xff") + bytes((IAC, SE))
        )

    def _start_compression(self) -> None:
        # The marker goes out uncompressed; every byte after it is in the stream.
        self._write(bytes((IAC, SB, Opt.MCCP2, IAC, SE)))
        self._compressor = zlib.compressobj(
            _MCCP_LEVEL, zlib.DEFLATED, _MCCP_WINDOW_BITS, _MCCP_MEM_LEVEL
        )

    @property
    def compressing(self) -> bool:
        """True while an MCCP2 stream is open (not resting)."""
        return self._compressor is not None

    def rest_compression(self) -> bool:
        """End the MCCP2 stream of a connection that has gone quiet, freeing
        its zlib state (about 28 KiB: most of an idle MCCP2 session's
        memory); MCCP2 stays agreed, and the next output starts a new stream
        with a new ``IAC SB MCCP2 IAC SE``, as the protocol allows. True if
        the stream's end is queued to send (nothing else may be pending)."""
        if self._compressor is None or self._plain:
            return False
        self._stop_compression()
        self._resting = True
        return True

    def _wake_compression(self) -> None:
        self._resting = False
        self._start_compression()

    def _stop_compression(self) -> None:
        self._resting = False
        if self._compressor is None:
            return
        tail = self._compressor.compress(b"".join(self._plain)) + self._compressor.flush(
            zlib.Z_FINISH
        )
        self._plain = []
        self._plain_size = 0
        self._compressor = None
        self._out.append(tail)
        self._out_size += len(tail)

    # ------------------------------------------------------------ TTYPE / MTTS

    def _request_ttype(self) -> None:
        if self._ttype_rounds >= self.limits.max_ttype_rounds:
            return
        self._ttype_rounds += 1
        self._ttype_waiting = True
        self._send_sb(Opt.TTYPE, bytes((TTYPE_SEND,)))

    def _sb_ttype(self, payload: bytes) -> None:
        if not payload or payload[0] != TTYPE_IS:
            self._violation("TTYPE subnegotiation is not IS")
            return
        if not self._ttype_waiting:
            self._violation("TTYPE IS we did not ask for")
            return
        self._ttype_waiting = False
        name = _printable(payload[1:].decode("ascii", "replace"), 64)
        mtts = _parse_mtts(name)
        previous = self._ttype_answers[-1] if self._ttype_answers else None
        self._ttype_answers.append(name)
        self._events.append(TerminalType(name, mtts))
        if len(self._ttype_answers) == 1:
            self.info.terminal = name
        if mtts is not None:
            self._apply_mtts(mtts)
            return  # MTTS is the last answer worth having
        if name == previous:
            return  # the client cycles no further (not MTTS)
        if name.upper() in ("DUMB", "UNKNOWN") and len(self._ttype_answers) == 1:
            self.info.ansi = False
        self._request_ttype()

    def _apply_mtts(self, mtts: int) -> None:
        self.info.mtts = mtts
        self.info.ansi = bool(mtts & Mtts.ANSI)
        self._choose_encoding()

    # ------------------------------------------------------------ NAWS

    def _sb_naws(self, payload: bytes) -> None:
        if len(payload) != 4:
            self._violation(f"NAWS with {len(payload)} bytes, not 4")
            return
        width = int.from_bytes(payload[:2], "big")
        height = int.from_bytes(payload[2:], "big")
        # RFC 1073: zero means "unknown"; keep what we had.
        if width:
            self.info.width = width
        if height:
            self.info.height = height
        self._events.append(NawsChanged(self.info.width, self.info.height))

    # ------------------------------------------------------------ CHARSET

    def _request_charset(self) -> None:
        if self._charset_requested:
            return
        self._charset_requested = True
        self._charset_waiting = True
        self._send_sb(Opt.CHARSET, bytes((CHARSET_REQUEST,)) + _CHARSET_REQUEST)

    def _sb_charset(self, payload: bytes) -> None:
        if not (self.enabled(Opt.CHARSET, local=True) or self.enabled(Opt.CHARSET, local=False)):
            self._violation("CHARSET subnegotiation while CHARSET is off")
            return
        if not payload:
            self._violation("empty CHARSET subnegotiation")
            return
        code, rest = payload[0], payload[1:]
        if code == CHARSET_REQUEST:
            self._charset_request_from_client(rest)
        elif code == CHARSET_ACCEPTED:
            if not self._charset_waiting:
                self._violation("CHARSET ACCEPTED without a request")
                return
            self._charset_waiting = False
            codec = _CHARSETS.get(rest.decode("ascii", "replace").strip().lower())
            if codec is None:
                self._violation(f"CHARSET ACCEPTED {rest[:40]!r}, which we did not offer")
                self._charset_rejected()
            else:
                self._charset_agreed(codec)
        elif code == CHARSET_REJECTED:
            if self._charset_waiting:
                self._charset_waiting = False
                self._charset_rejected()
        elif code == CHARSET_TTABLE_IS:
            # We never offer translation tables.
            self._send_sb(Opt.CHARSET, bytes((CHARSET_TTABLE_REJECTED,)))
        else:
            self._violation(f"CHARSET subnegotiation code {code}")

    def _charset_request_from_client(self, rest: bytes) -> None:
        if self._charset_waiting:
            # RFC 2066: both sides asked at once; the server rejects the
            # client's request and the client answers the server's.
            self._send_sb(Opt.CHARSET, bytes((CHARSET_REJECTED,)))
            return
        if rest.startswith(b"[TTABLE]"):
            rest = rest[9:]  # "[TTABLE]" and its version byte
        if not rest:
            self._send_sb(Opt.CHARSET, bytes((CHARSET_REJECTED,)))
            return
        sep = rest[:1]
        names = [n.decode("ascii", "replace").strip() for n in rest[1:].split(sep)]
        choices = [(name, _CHARSETS[name.lower()]) for name in names if name.lower() in _CHARSETS]
        if not choices:
            self._send_sb(Opt.CHARSET, bytes((CHARSET_REJECTED,)))
            return
        # Prefer UTF-8 whatever the client's order; otherwise its first choice.
        name, codec = next((c for c in choices if c[1] == "utf-8"), choices[0])
        self._send_sb(Opt.CHARSET, bytes((CHARSET_ACCEPTED,)) + name.encode("ascii"))
        self._charset_agreed(codec)

    def _charset_agreed(self, codec: str) -> None:
        self._charset = codec
        self._charset_refused = False
        self._choose_encoding()
        self._events.append(CharsetAgreed(codec))

    def _charset_rejected(self) -> None:
        self._charset_refused = True
        self._choose_encoding()
        self._events.append(CharsetRefused(self._encoding))

    def _choose_encoding(self) -> None:
        """Pick the output codec from what CHARSET and MTTS said, CHARSET first.

        Nothing said: UTF-8, what every current terminal speaks. Refused
        (or MTTS without its UTF-8 bit): UTF-8 only if MTTS claims it,
        else ASCII, with accented letters reduced to their base letter.
        """
        mtts_utf8 = bool(self.info.mtts & Mtts.UTF8)
        if self._charset is not None:
            encoding = self._charset
        elif self._charset_refused or self.info.mtts:
            encoding = "utf-8" if mtts_utf8 else "ascii"
        else:
            encoding = "utf-8"
        self._encoding = encoding
        self.info.utf8 = encoding == "utf-8"

    # ------------------------------------------------------------ MSSP

    def _send_mssp(self) -> None:
        payload = bytearray()
        for name, values in self.mssp_variables().items():
            payload.append(MSSP_VAR)
            payload += name.encode("utf-8")
            for value in values:
                payload.append(MSSP_VAL)
                payload += value.encode("utf-8")
        self._send_sb(Opt.MSSP, bytes(payload))

    # ------------------------------------------------------------ GMCP

    def _sb_gmcp(self, payload: bytes) -> None:
        if not self.enabled(Opt.GMCP, local=True):
            self._violation("GMCP message while GMCP is off")
            return
        text = payload.decode("utf-8", "replace")
        package, _, body = text.strip().partition(" ")
        if not _GMCP_PACKAGE.fullmatch(package):
            self._violation(f"GMCP package name {package[:40]!r}")
            return
        data: Any = None
        body = body.strip()
        if body:
            try:
                data = json.loads(body)
            except (ValueError, RecursionError):
                self._violation(f"GMCP {package}: data is not JSON")
                return
        name = package.lower()
        if name == "core.hello":
            self._gmcp_hello(data)
        elif name in ("core.supports.set", "core.supports.add", "core.supports.remove"):
            self._gmcp_supports(name.rsplit(".", 1)[1], data)
        elif name == "core.ping":
            self.send_gmcp("Core.Ping")
        elif name == "core.keepalive":
            pass
        else:
            self._events.append(Gmcp(package, data))

    def _gmcp_hello(self, data: Any) -> None:
        if not isinstance(data, dict):
            self._violation("GMCP Core.Hello data is not an object")
            return
        client = _printable(str(data.get("client", "")), 64)
        version = _printable(str(data.get("version", "")), 64)
        if client and not self.info.terminal:
            self.info.terminal = client
        self._events.append(GmcpHello(client, version))

    def _gmcp_supports(self, how: str, data: Any) -> None:
        if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
            self._violation(f"GMCP Core.Supports.{how.title()} data is not a list of strings")
            return
        names = set()
        for item in data[: self.limits.max_gmcp_packages]:
            name = item.strip().split(" ", 1)[0].lower()
            if _GMCP_PACKAGE.fullmatch(name):
                names.add(name)
        packages = set(self.info.gmcp_packages)
        if how == "set":
            packages = names
        elif how == "add":
            room = self.limits.max_gmcp_packages - len(packages)
            packages.update(sorted(names - packages)[: max(0, room)])
        else:
            packages.difference_update(names)
        self.info.gmcp_packages = packages
        self._events.append(GmcpSupportsChanged(frozenset(packages)))

    # ------------------------------------------------------------ helpers

    def _violation(self, reason: str) -> None:
        self._events.append(ProtocolViolation(reason))


def encode_text(text: str, encoding: str) -> bytes:
    """Text as a telnet connection whose output codec is ``encoding`` sends
    it: newlines become CR LF (NVT; a carriage return alone is CR NUL), the
    codec applied (without UTF-8, accented letters lose their accents and
    what has no spelling becomes '?'), IAC doubled."""
    text = text.replace("\r\n", "\n").replace("\r", "\r\0").replace("\n", "\r\n")
    if encoding == "utf-8":
        # UTF-8 never makes the byte 0xff, so there is no IAC to double.
        return text.encode("utf-8", "replace")  # lone surrogates become '?'
    if text.isascii():
        return text.encode("ascii")
    return _transliterate(text, encoding).replace(b"\xff", b"\xff\xff")


def _decode_line(data: bytes, truncated: bool) -> str:
    """UTF-8, with any byte that is not valid UTF-8 read as latin-1 (so old
    clients and pasted mixtures both come through). A character cut off by
    truncation is dropped rather than shown as latin-1 debris."""
    parts: list[str] = []
    pos = 0
    while True:
        try:
            parts.append(data[pos:].decode("utf-8"))
            return "".join(parts)
        except UnicodeDecodeError as exc:
            start, end = pos + exc.start, pos + exc.end
            parts.append(data[pos:start].decode("utf-8"))
            if truncated and exc.reason == "unexpected end of data" and end == len(data):
                return "".join(parts)
            parts.append(data[start:end].decode("latin-1"))
            pos = end


def _printable(text: str, limit: int) -> str:
    return "".join(ch for ch in text if ch.isprintable())[:limit].strip()


def _parse_mtts(name: str) -> int | None:
    parts = name.split()
    number = parts[1] if len(parts) == 2 and parts[0].upper() == "MTTS" else ""
    if number.isascii() and number.isdigit() and len(number) < 10:
        return int(number)
    return None


def _mssp_clean(text: str) -> str:
    # MSSP_VAR and MSSP_VAL delimit the payload; NUL and IAC have no place in it.
    return "".join(ch for ch in text if ch not in "\x00\x01\x02\xff")


# Letters and punctuation that have no decomposition but an obvious spelling.
_ASCII_SPELLING = {
    "Æ": "AE", "æ": "ae", "Ø": "O", "ø": "o", "Œ": "OE", "œ": "oe", "ß": "ss",
    "Ð": "D", "ð": "d", "Þ": "Th", "þ": "th", "Ł": "L", "ł": "l", "ı": "i",
    "‘": "'", "’": "'", "‚": ",", "“": '"', "”": '"', "„": '"', "«": '"', "»": '"',
    "–": "-", "—": "-", "−": "-", "•": "*", "·": ".", "×": "x", "÷": "/",
}  # fmt: skip


def _transliterate(text: str, codec: str) -> bytes:
    """Encode for a client without UTF-8: accents dropped, '?' for the rest."""
    out = bytearray()
    for ch in text:
        try:
            out += ch.encode(codec)
        except UnicodeEncodeError:
            base = _ASCII_SPELLING.get(ch) or "".join(
                c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)
            )
            try:
                out += base.encode(codec) if base else b"?"
            except UnicodeEncodeError:
                out += b"?"
    return bytes(out)
