"""The telnet state machine alone: bytes in, events and bytes out, no sockets."""

from __future__ import annotations

import json
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driver.net.session import ClientInfo, Session
from driver.net.telnet import (
    CharsetAgreed,
    CharsetRefused,
    Gmcp,
    GmcpHello,
    GmcpSupportsChanged,
    Line,
    Mtts,
    NawsChanged,
    Opt,
    OptionAgreed,
    OptionEnded,
    OptionRefused,
    ProtocolViolation,
    TelnetLimits,
    TelnetProtocol,
    TerminalType,
)

IAC, DONT, DO, WONT, WILL, SB, GA, EL, EC, AYT, NOP, SE, EOR = (
    255, 254, 253, 252, 251, 250, 249, 248, 247, 246, 241, 240, 239,
)  # fmt: skip


def iac(*codes: int) -> bytes:
    return bytes((IAC, *codes))


def sb(option: int, payload: bytes) -> bytes:
    return iac(SB, option) + payload.replace(b"\xff", b"\xff\xff") + iac(SE)


def parse(data: bytes) -> list[tuple[Any, ...]]:
    """Server output as items: ("text", bytes), (verb, option), ("sb", option,
    payload) and ("cmd", code) for GA/EOR/others. Test-side, independent of
    the parser under test."""
    items: list[tuple[Any, ...]] = []
    text = bytearray()
    i = 0
    while i < len(data):
        b = data[i]
        if b != IAC:
            text.append(b)
            i += 1
            continue
        code = data[i + 1]
        if code == IAC:
            text.append(IAC)
            i += 2
            continue
        if text:
            items.append(("text", bytes(text)))
            text.clear()
        if code in (WILL, WONT, DO, DONT):
            items.append(({WILL: "WILL", WONT: "WONT", DO: "DO", DONT: "DONT"}[code], data[i + 2]))
            i += 3
        elif code == SB:
            option = data[i + 2]
            j = i + 3
            payload = bytearray()
            while not (data[j] == IAC and data[j + 1] == SE):
                if data[j] == IAC:
                    j += 1  # IAC IAC
                payload.append(data[j])
                j += 1
            items.append(("sb", option, bytes(payload)))
            i = j + 2
        else:
            items.append(("cmd", code))
            i += 2
    if text:
        items.append(("text", bytes(text)))
    return items


def fresh(**kwargs: Any) -> TelnetProtocol:
    """A protocol that has made its offers (already collected)."""
    proto = TelnetProtocol(**kwargs)
    proto.start()
    proto.data_to_send()
    return proto


def lines(events: list[Any]) -> list[str]:
    return [e.text for e in events if isinstance(e, Line)]


def violations(events: list[Any]) -> list[str]:
    return [e.reason for e in events if isinstance(e, ProtocolViolation)]


# ---------------------------------------------------------------- offers


def test_start_offers_every_option_at_once() -> None:
    proto = TelnetProtocol()
    proto.start()
    assert parse(proto.data_to_send()) == [
        ("WILL", Opt.GMCP),
        ("WILL", Opt.MCCP2),
        ("WILL", Opt.MSSP),
        ("WILL", Opt.EOR),
        ("WILL", Opt.SGA),
        ("WILL", Opt.CHARSET),
        ("DO", Opt.TTYPE),
        ("DO", Opt.NAWS),
    ]


def test_options_can_be_limited() -> None:
    proto = TelnetProtocol(options={Opt.NAWS, Opt.EOR})
    proto.start()
    assert parse(proto.data_to_send()) == [("WILL", Opt.EOR), ("DO", Opt.NAWS)]
    # Not offered means not accepted either.
    proto.receive_data(iac(DO, Opt.MCCP2))
    assert parse(proto.data_to_send()) == [("WONT", Opt.MCCP2)]


def test_a_client_that_never_answers_still_gets_output() -> None:
    proto = fresh()
    proto.send_text("Welcome!\n")
    proto.send_prompt("> ")
    assert proto.data_to_send() == b"Welcome!\r\n> " + iac(GA)
    assert lines(proto.receive_data(b"look\r\n")) == ["look"]


# ---------------------------------------------------------------- RFC 1143


def test_agreement_to_our_offer_is_not_answered() -> None:
    proto = fresh()
    events = proto.receive_data(iac(DO, Opt.EOR) + iac(WILL, Opt.NAWS))
    assert events == [OptionAgreed(Opt.EOR, True), OptionAgreed(Opt.NAWS, False)]
    assert proto.data_to_send() == b""
    assert proto.enabled(Opt.EOR, local=True)
    assert proto.enabled(Opt.NAWS, local=False)
    # Repeating an agreement while the option is on changes nothing, says nothing.
    assert proto.receive_data(iac(DO, Opt.EOR) * 5 + iac(WILL, Opt.NAWS) * 5) == []
    assert proto.data_to_send() == b""


def test_refusal_of_our_offer_is_not_answered() -> None:
    proto = fresh()
    events = proto.receive_data(iac(DONT, Opt.GMCP) + iac(WONT, Opt.TTYPE))
    assert events == [OptionRefused(Opt.GMCP, True), OptionRefused(Opt.TTYPE, False)]
    assert proto.data_to_send() == b""
    assert proto.receive_data(iac(DONT, Opt.GMCP) + iac(WONT, Opt.TTYPE)) == []
    assert proto.data_to_send() == b""


def test_unsolicited_request_for_a_supported_option_is_agreed_once() -> None:
    proto = TelnetProtocol()  # no offers made
    assert proto.receive_data(iac(DO, Opt.SGA)) == [OptionAgreed(Opt.SGA, True)]
    assert parse(proto.data_to_send()) == [("WILL", Opt.SGA)]
    proto.receive_data(iac(DO, Opt.SGA))
    assert proto.data_to_send() == b""


def test_unknown_options_are_refused_every_time_without_keeping_state() -> None:
    proto = fresh()
    proto.receive_data(iac(DO, 99) + iac(WILL, 100) + iac(DO, Opt.TTYPE) + iac(WILL, Opt.GMCP))
    assert parse(proto.data_to_send()) == [
        ("WONT", 99),
        ("DONT", 100),
        ("WONT", Opt.TTYPE),  # TTYPE is the client's to do, not ours
        ("DONT", Opt.GMCP),  # and GMCP is ours
    ]
    # Negative requests for options that are off need no answer.
    proto.receive_data(iac(DONT, 99) + iac(WONT, 100))
    assert proto.data_to_send() == b""
    proto.receive_data(bytes(b for opt in range(256) for b in iac(DO, opt)))
    assert len(proto._opts) < 20  # noqa: SLF001 - state only for options we speak


def test_turning_an_agreed_option_off_is_acknowledged_once() -> None:
    proto = fresh()
    proto.receive_data(iac(DO, Opt.EOR))
    assert proto.receive_data(iac(DONT, Opt.EOR)) == [OptionEnded(Opt.EOR, True)]
    assert parse(proto.data_to_send()) == [("WONT", Opt.EOR)]
    proto.receive_data(iac(DONT, Opt.EOR))
    assert proto.data_to_send() == b""
    assert not proto.enabled(Opt.EOR, local=True)


def test_queued_opposite_request_rfc1143() -> None:
    # We ask for ECHO, change our mind before the answer, then the answer comes.
    proto = TelnetProtocol(options={Opt.ECHO})
    proto.enable(Opt.ECHO, local=True)
    proto.disable(Opt.ECHO, local=True)  # WANTYES, queue OPPOSITE
    assert parse(proto.data_to_send()) == [("WILL", Opt.ECHO)]
    proto.receive_data(iac(DO, Opt.ECHO))  # -> WANTNO, send WONT
    assert parse(proto.data_to_send()) == [("WONT", Opt.ECHO)]
    proto.receive_data(iac(DONT, Opt.ECHO))  # -> NO
    assert proto.data_to_send() == b""
    assert not proto.enabled(Opt.ECHO, local=True)

    # And the other way: off requested, then on again before the answer.
    proto.enable(Opt.ECHO, local=True)
    proto.receive_data(iac(DO, Opt.ECHO))
    proto.data_to_send()
    proto.disable(Opt.ECHO, local=True)  # -> WANTNO
    proto.enable(Opt.ECHO, local=True)  # queue OPPOSITE
    assert parse(proto.data_to_send()) == [("WONT", Opt.ECHO)]
    proto.receive_data(iac(DONT, Opt.ECHO))  # -> WANTYES, send WILL
    assert parse(proto.data_to_send()) == [("WILL", Opt.ECHO)]
    proto.receive_data(iac(DO, Opt.ECHO))
    assert proto.enabled(Opt.ECHO, local=True)
    assert proto.data_to_send() == b""


def test_echo_is_only_agreed_when_we_asked() -> None:
    proto = fresh()
    proto.receive_data(iac(DO, Opt.ECHO))
    assert parse(proto.data_to_send()) == [("WONT", Opt.ECHO)]
    proto.enable(Opt.ECHO, local=True)
    assert parse(proto.data_to_send()) == [("WILL", Opt.ECHO)]
    proto.receive_data(iac(DO, Opt.ECHO))
    assert proto.enabled(Opt.ECHO, local=True)


def test_broken_peer_agreeing_to_our_refusal_does_not_loop() -> None:
    proto = fresh()
    proto.receive_data(iac(DO, Opt.SGA))
    proto.disable(Opt.SGA, local=True)  # WANTNO
    proto.data_to_send()
    events = proto.receive_data(iac(DO, Opt.SGA))  # error per RFC 1143: -> NO
    assert violations(events)
    assert proto.data_to_send() == b""
    assert not proto.enabled(Opt.SGA, local=True)


def _pump(a: TelnetProtocol, b: TelnetProtocol, rounds: int = 50) -> int:
    """Deliver bytes both ways until both are quiet; return the rounds used."""
    for n in range(rounds):
        to_b, to_a = a.data_to_send(), b.data_to_send()
        if not to_a and not to_b:
            return n
        b.receive_data(to_b)
        a.receive_data(to_a)
    raise AssertionError("negotiation did not settle")


_SYMMETRIC = [Opt.SGA, Opt.EOR, Opt.ECHO, Opt.NAWS, Opt.TTYPE]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.booleans(),  # which end acts
            st.sampled_from(_SYMMETRIC),
            st.booleans(),  # local side?
            st.booleans(),  # enable?
            st.booleans(),  # deliver pending bytes afterwards?
        ),
        max_size=40,
    )
)
def test_two_ends_never_loop_and_agree(ops: list[tuple[bool, Opt, bool, bool, bool]]) -> None:
    # Two Q-method machines wired back to back, making arbitrary requests at
    # arbitrary moments, always settle and agree on every option.
    options = set(_SYMMETRIC)
    a, b = TelnetProtocol(options=options), TelnetProtocol(options=options)
    in_flight_ab: list[bytes] = []
    in_flight_ba: list[bytes] = []
    for first, opt, local, enable, deliver in ops:
        actor = a if first else b
        (actor.enable if enable else actor.disable)(opt, local=local)
        in_flight_ab.append(a.data_to_send())
        in_flight_ba.append(b.data_to_send())
        if deliver:
            b.receive_data(b"".join(in_flight_ab))
            a.receive_data(b"".join(in_flight_ba))
            in_flight_ab.clear()
            in_flight_ba.clear()
    b.receive_data(b"".join(in_flight_ab))
    a.receive_data(b"".join(in_flight_ba))
    _pump(a, b)
    for opt in _SYMMETRIC:
        for local in (True, False):
            assert a.enabled(opt, local=local) == b.enabled(opt, local=not local)
            for end in (a, b):
                st_ = end._opts.get(opt)  # noqa: SLF001
                assert st_ is None or st_.side(local).state in (0, 1)  # NO or YES, not WANT*


def test_two_servers_offering_everything_settle_quickly() -> None:
    a, b = TelnetProtocol(options={Opt.SGA, Opt.EOR, Opt.NAWS}), TelnetProtocol()
    a.start()
    b.start()
    # b compresses once a says DO MCCP2 -- a does not speak it, so it refuses.
    assert _pump(a, b) <= 3


# ---------------------------------------------------------------- TTYPE / MTTS


def test_mtts_cycle() -> None:
    proto = fresh()
    proto.receive_data(iac(WILL, Opt.TTYPE))
    assert parse(proto.data_to_send()) == [("sb", Opt.TTYPE, b"\x01")]
    events = proto.receive_data(sb(Opt.TTYPE, b"\x00MUDLET"))
    assert events == [TerminalType("MUDLET")]
    assert proto.info.terminal == "MUDLET"
    assert parse(proto.data_to_send()) == [("sb", Opt.TTYPE, b"\x01")]
    proto.receive_data(sb(Opt.TTYPE, b"\x00XTERM-256COLOR"))
    assert parse(proto.data_to_send()) == [("sb", Opt.TTYPE, b"\x01")]
    events = proto.receive_data(sb(Opt.TTYPE, b"\x00MTTS 2829"))
    assert events == [TerminalType("MTTS 2829", 2829)]
    assert proto.data_to_send() == b""  # no fourth round
    flags = Mtts(proto.info.mtts)
    assert Mtts.ANSI in flags and Mtts.UTF8 in flags and Mtts.TRUECOLOR in flags
    assert Mtts.COLOURS_256 in flags and Mtts.SCREEN_READER not in flags
    assert proto.info.ansi and proto.info.utf8
    assert proto.info.terminal == "MUDLET"


def test_mtts_bits_turn_off_colour_and_utf8() -> None:
    proto = fresh()
    proto.receive_data(iac(WILL, Opt.TTYPE))
    for name in (b"SOMECLIENT", b"VT100", b"MTTS 66"):  # VT100 + screen reader
        proto.receive_data(sb(Opt.TTYPE, b"\x00" + name))
    assert proto.info.mtts == 66
    assert Mtts.SCREEN_READER in Mtts(proto.info.mtts)
    assert not proto.info.ansi
    assert not proto.info.utf8
    proto.send_text("naïve café — ok")
    assert proto.data_to_send().endswith(b"naive cafe - ok")


def test_non_mtts_client_stops_when_the_answer_repeats() -> None:
    proto = fresh()
    proto.receive_data(iac(WILL, Opt.TTYPE))
    proto.data_to_send()
    proto.receive_data(sb(Opt.TTYPE, b"\x00XTERM"))
    assert parse(proto.data_to_send()) == [("sb", Opt.TTYPE, b"\x01")]
    proto.receive_data(sb(Opt.TTYPE, b"\x00XTERM"))
    assert proto.data_to_send() == b""
    assert proto.info.terminal == "XTERM"
    assert proto.info.mtts == 0


def test_ttype_rounds_are_capped() -> None:
    proto = fresh(limits=TelnetLimits(max_ttype_rounds=4))
    proto.receive_data(iac(WILL, Opt.TTYPE))
    sends = len(parse(proto.data_to_send()))
    for n in range(10):
        proto.receive_data(sb(Opt.TTYPE, b"\x00NAME%d" % n))
        sends += len(parse(proto.data_to_send()))
    assert sends == 4


def test_dumb_terminal_gets_no_colour() -> None:
    proto = fresh()
    proto.receive_data(iac(WILL, Opt.TTYPE) + sb(Opt.TTYPE, b"\x00dumb"))
    assert not proto.info.ansi


def test_ttype_nonsense_is_ignored() -> None:
    proto = fresh()
    events = proto.receive_data(sb(Opt.TTYPE, b"\x00UNASKED") + sb(Opt.TTYPE, b"\x05junk"))
    assert len(violations(events)) == 2
    assert proto.info.terminal == ""
    proto.receive_data(iac(WILL, Opt.TTYPE))
    proto.receive_data(sb(Opt.TTYPE, b"\x00BAD\x1b[2Jname" + b"x" * 200))
    assert proto.info.terminal.startswith("BAD[2Jname") and len(proto.info.terminal) == 64


# ---------------------------------------------------------------- NAWS


def test_naws_sets_width_and_height() -> None:
    proto = fresh()
    events = proto.receive_data(iac(WILL, Opt.NAWS) + sb(Opt.NAWS, b"\x00\x78\x00\x28"))
    assert NawsChanged(120, 40) in events
    assert (proto.info.width, proto.info.height) == (120, 40)


def test_naws_with_escaped_255() -> None:
    proto = fresh()
    proto.receive_data(iac(WILL, Opt.NAWS) + sb(Opt.NAWS, b"\x00\xff\x01\xff"))
    assert (proto.info.width, proto.info.height) == (255, 511)


def test_naws_zero_keeps_the_old_size_and_bad_length_is_ignored() -> None:
    proto = fresh()
    proto.receive_data(iac(WILL, Opt.NAWS) + sb(Opt.NAWS, b"\x00\x00\x00\x00"))
    assert (proto.info.width, proto.info.height) == (80, 24)
    events = proto.receive_data(sb(Opt.NAWS, b"\x00\x50\x00"))
    assert violations(events)
    assert (proto.info.width, proto.info.height) == (80, 24)


# ---------------------------------------------------------------- CHARSET


def _charset_requested() -> TelnetProtocol:
    proto = fresh()
    proto.receive_data(iac(DO, Opt.CHARSET))
    assert parse(proto.data_to_send()) == [("sb", Opt.CHARSET, b"\x01;UTF-8;ISO-8859-1;US-ASCII")]
    return proto


def test_charset_utf8_accepted() -> None:
    proto = _charset_requested()
    events = proto.receive_data(sb(Opt.CHARSET, b"\x02UTF-8"))
    assert events == [CharsetAgreed("utf-8")]
    assert proto.info.utf8
    proto.send_text("café")
    assert proto.data_to_send() == "café".encode()


def test_charset_latin1_accepted_and_255_is_escaped() -> None:
    proto = _charset_requested()
    assert proto.receive_data(sb(Opt.CHARSET, b"\x02ISO-8859-1")) == [CharsetAgreed("latin-1")]
    assert not proto.info.utf8
    proto.send_text("café ÿ €")
    assert proto.data_to_send() == b"caf\xe9 \xff\xff ?"


def test_charset_rejected_falls_back_to_ascii() -> None:
    proto = _charset_requested()
    assert proto.receive_data(sb(Opt.CHARSET, b"\x03")) == [CharsetRefused("ascii")]
    assert not proto.info.utf8
    proto.send_text("Ærøskøbing café — “ok” 日")
    assert proto.data_to_send() == b'AEroskobing cafe - "ok" ?'


def test_charset_rejected_but_mtts_says_utf8() -> None:
    proto = _charset_requested()
    proto.receive_data(iac(WILL, Opt.TTYPE))
    for name in (b"C", b"T", b"MTTS 5"):
        proto.receive_data(sb(Opt.TTYPE, b"\x00" + name))
    assert proto.receive_data(sb(Opt.CHARSET, b"\x03")) == [CharsetRefused("utf-8")]
    assert proto.info.utf8


def test_charset_request_from_the_client() -> None:
    proto = TelnetProtocol()
    proto.receive_data(iac(WILL, Opt.CHARSET))
    out = parse(proto.data_to_send())
    assert out[0] == ("DO", Opt.CHARSET)
    assert out[1][0] == "sb"  # our own request
    # The client asks at the same time: RFC 2066 says the server rejects.
    proto.receive_data(sb(Opt.CHARSET, b"\x01;UTF-8"))
    assert parse(proto.data_to_send()) == [("sb", Opt.CHARSET, b"\x03")]
    proto.receive_data(sb(Opt.CHARSET, b"\x02utf-8"))  # answer to ours
    assert proto.info.utf8
    # A later request of its own is answered, UTF-8 preferred.
    events = proto.receive_data(sb(Opt.CHARSET, b"\x01 ISO-8859-1 UTF-8"))
    assert parse(proto.data_to_send()) == [("sb", Opt.CHARSET, b"\x02UTF-8")]
    assert events == [CharsetAgreed("utf-8")]
    proto.receive_data(sb(Opt.CHARSET, b"\x01[TTABLE]\x01;KOI8-R;BIG5"))
    assert parse(proto.data_to_send()) == [("sb", Opt.CHARSET, b"\x03")]
    proto.receive_data(sb(Opt.CHARSET, b"\x01"))
    assert parse(proto.data_to_send()) == [("sb", Opt.CHARSET, b"\x03")]


def test_charset_nonsense() -> None:
    proto = fresh()
    assert violations(proto.receive_data(sb(Opt.CHARSET, b"\x02UTF-8")))  # CHARSET is off
    proto = _charset_requested()
    events = proto.receive_data(sb(Opt.CHARSET, b"\x02EBCDIC"))
    assert violations(events) and CharsetRefused("ascii") in events
    assert violations(proto.receive_data(sb(Opt.CHARSET, b"\x02UTF-8")))  # not waiting now
    proto.receive_data(sb(Opt.CHARSET, b"\x04\x01junk"))  # TTABLE-IS
    assert parse(proto.data_to_send()) == [("sb", Opt.CHARSET, b"\x05")]
    assert violations(proto.receive_data(sb(Opt.CHARSET, b"")))
    assert violations(proto.receive_data(sb(Opt.CHARSET, b"\x09")))


# ---------------------------------------------------------------- prompts: EOR, GA, SGA


def test_prompt_ends_with_eor_when_agreed() -> None:
    proto = fresh()
    proto.receive_data(iac(DO, Opt.EOR) + iac(DO, Opt.SGA))
    proto.send_prompt("HP 10> ")
    assert proto.data_to_send() == b"HP 10> " + iac(EOR)


def test_prompt_has_no_marker_when_only_sga_is_agreed() -> None:
    proto = fresh()
    proto.receive_data(iac(DONT, Opt.EOR) + iac(DO, Opt.SGA))
    proto.send_prompt("> ")
    assert proto.data_to_send() == b"> "


def test_prompt_ends_with_ga_otherwise() -> None:
    proto = fresh()
    proto.receive_data(iac(DONT, Opt.EOR) + iac(DONT, Opt.SGA))
    proto.send_prompt("> ")
    assert proto.data_to_send() == b"> " + iac(GA)


# ---------------------------------------------------------------- MCCP2


def test_mccp2_compresses_everything_after_the_marker() -> None:
    proto = fresh()
    proto.send_text("before\n")
    proto.receive_data(iac(DO, Opt.MCCP2))
    proto.send_text("after one\n")
    first = proto.data_to_send()
    marker = sb(Opt.MCCP2, b"")
    assert first.startswith(b"before\r\n" + marker)
    inflate = zlib.decompressobj()
    # Each collection ends in a sync flush: it decompresses completely now.
    assert inflate.decompress(first[len(b"before\r\n" + marker) :]) == b"after one\r\n"
    proto.send_prompt("> ")
    proto.send_gmcp("Core.Ping")  # GMCP is off: nothing
    proto.receive_data(iac(DO, Opt.GMCP))
    proto.send_gmcp("Room.Info", {"num": 1})
    assert inflate.decompress(proto.data_to_send()) == (
        b"> " + iac(GA) + sb(Opt.GMCP, b'Room.Info {"num":1}')
    )
    # The client turns compression off: the stream ends, then plain bytes.
    proto.receive_data(iac(DONT, Opt.MCCP2))
    proto.send_text("plain again\n")
    rest = proto.data_to_send()
    tail = inflate.decompress(rest)
    assert inflate.eof and tail == b""
    assert inflate.unused_data == iac(WONT, Opt.MCCP2) + b"plain again\r\n"


def test_mccp2_agreed_unsolicited_and_finished() -> None:
    proto = TelnetProtocol()
    proto.receive_data(iac(DO, Opt.MCCP2))
    data = proto.data_to_send()
    assert data == iac(WILL, Opt.MCCP2) + sb(Opt.MCCP2, b"")
    proto.send_text("x" * 10000)
    compressed = proto.data_to_send()
    assert len(compressed) < 200
    proto.finish()
    inflate = zlib.decompressobj()
    assert inflate.decompress(compressed + proto.data_to_send()) == b"x" * 10000
    assert inflate.eof
    proto.send_text("after")
    assert proto.data_to_send() == b"after"


def test_mccp2_rests_an_idle_stream_and_starts_a_new_one_for_the_next_output() -> None:
    proto = TelnetProtocol()
    proto.receive_data(iac(DO, Opt.MCCP2))
    marker = sb(Opt.MCCP2, b"")
    assert proto.data_to_send() == iac(WILL, Opt.MCCP2) + marker
    proto.send_text("hello\n")
    first = zlib.decompressobj()
    assert first.decompress(proto.data_to_send()) == b"hello\r\n"
    proto.send_text("pending")
    assert not proto.rest_compression()  # output waiting: not idle
    first.decompress(proto.data_to_send())
    assert proto.compressing and proto.rest_compression()
    assert not proto.compressing and not proto.rest_compression()
    # The stream's end, then nothing until the next output...
    assert first.decompress(proto.data_to_send()) == b"" and first.eof
    assert first.unused_data == b""
    assert proto.data_to_send() == b""
    # ...which starts a new stream with a new marker, as MCCP2 allows.
    proto.send_prompt("> ")
    proto.send_text("world")
    data = proto.data_to_send()
    assert data.startswith(marker) and proto.compressing
    second = zlib.decompressobj()
    assert second.decompress(data[len(marker) :]) == b"> " + iac(GA) + b"world"
    # The client turning MCCP2 off while resting gets plain bytes, no marker.
    assert proto.rest_compression()
    second.decompress(proto.data_to_send())
    proto.receive_data(iac(DONT, Opt.MCCP2))
    proto.send_text("plain")
    assert proto.data_to_send() == iac(WONT, Opt.MCCP2) + b"plain"


# ---------------------------------------------------------------- MSSP


def _mssp(payload: bytes) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    name = None
    for chunk in payload.replace(b"\x02", b"\x01\x02").split(b"\x01")[1:]:
        if chunk.startswith(b"\x02"):
            assert name is not None
            out[name].append(chunk[1:].decode())
        else:
            name = chunk.decode()
            out[name] = []
    return out


def test_mssp_answers_do_with_variables() -> None:
    def info() -> dict[str, Any]:
        return {"NAME": "Test Realm", "PLAYERS": 7, "UPTIME": 1700000000, "PORT": [4000, 4001]}

    proto = fresh(mssp=info)
    proto.receive_data(iac(DO, Opt.MSSP))
    [(kind, option, payload)] = parse(proto.data_to_send())
    assert (kind, option) == ("sb", Opt.MSSP)
    values = _mssp(payload)
    assert values["NAME"] == ["Test Realm"]
    assert values["PLAYERS"] == ["7"]
    assert values["UPTIME"] == ["1700000000"]
    assert values["PORT"] == ["4000", "4001"]
    assert values["CODEBASE"] == ["JitRealm"]
    assert values["CRAWL DELAY"] == ["-1"]
    for flag in ("UTF-8", "GMCP", "MCCP", "ANSI"):
        assert values[flag] == ["1"]


def test_mssp_cleans_delimiters_and_survives_a_failing_callable() -> None:
    proto = fresh(mssp=lambda: {"NAME": "Evil\x01\x02\xffName", "players": 3})
    proto.receive_data(iac(DO, Opt.MSSP))
    values = _mssp(parse(proto.data_to_send())[0][2])
    assert values["NAME"] == ["EvilName"] and values["PLAYERS"] == ["3"]

    def broken() -> dict[str, Any]:
        raise RuntimeError("oops")

    proto = fresh(mssp=broken)
    proto.receive_data(iac(DO, Opt.MSSP))
    values = _mssp(parse(proto.data_to_send())[0][2])
    assert {"NAME", "PLAYERS", "UPTIME"} <= values.keys()


# ---------------------------------------------------------------- GMCP


class _Probe(Session):
    """The minimal Session, to check ``wants_gmcp`` against what GMCP agreed."""

    def __init__(self, info: ClientInfo) -> None:
        self.info = info

    def send_text(self, text: str) -> None: ...
    def send_prompt(self, text: str) -> None: ...
    def send_gmcp(self, package: str, data: Any) -> None: ...
    def close(self, reason: str = "") -> None: ...


def _gmcp_on() -> TelnetProtocol:
    proto = fresh()
    assert proto.receive_data(iac(DO, Opt.GMCP)) == [OptionAgreed(Opt.GMCP, True)]
    assert proto.info.gmcp
    return proto


def test_gmcp_core_hello_and_supports() -> None:
    proto = _gmcp_on()
    probe = _Probe(proto.info)
    events = proto.receive_data(
        sb(Opt.GMCP, b'Core.Hello {"client":"Mudlet","version":"4.17.2"}')
        + sb(Opt.GMCP, b'Core.Supports.Set ["Char 1", "Room 1", "Char.Skills 1"]')
    )
    assert events[0] == GmcpHello("Mudlet", "4.17.2")
    assert proto.info.terminal == "Mudlet"
    assert events[1] == GmcpSupportsChanged(frozenset({"char", "room", "char.skills"}))
    assert probe.wants_gmcp("Room.Info") and probe.wants_gmcp("Core.Goodbye")
    assert not probe.wants_gmcp("Comm.Channel.Text")
    proto.receive_data(sb(Opt.GMCP, b'Core.Supports.Add ["Comm.Channel 1"]'))
    assert probe.wants_gmcp("Comm.Channel.Text")
    proto.receive_data(sb(Opt.GMCP, b'Core.Supports.Remove ["Room", "Char 1"]'))
    assert proto.info.gmcp_packages == {"char.skills", "comm.channel"}
    assert not probe.wants_gmcp("Room.Info")
    proto.receive_data(sb(Opt.GMCP, b'Core.Supports.Set ["Room 1"]'))
    assert proto.info.gmcp_packages == {"room"}
    assert proto.data_to_send() == b""  # none of that needs an answer


def test_gmcp_ping_is_answered() -> None:
    proto = _gmcp_on()
    assert proto.receive_data(sb(Opt.GMCP, b"Core.Ping 120")) == []
    assert parse(proto.data_to_send()) == [("sb", Opt.GMCP, b"Core.Ping")]


def test_gmcp_other_messages_become_events() -> None:
    proto = _gmcp_on()
    events = proto.receive_data(
        sb(Opt.GMCP, b'Char.Login {"name": "bob", "password": "x"}')
        + sb(Opt.GMCP, b"External.Discord.Hello")
        + sb(Opt.GMCP, 'Comm.Say "héllo ÿ"'.encode())
        + sb(Opt.GMCP, b"Core.KeepAlive")
    )
    assert events == [
        Gmcp("Char.Login", {"name": "bob", "password": "x"}),
        Gmcp("External.Discord.Hello", None),
        Gmcp("Comm.Say", "héllo ÿ"),
    ]


def test_gmcp_malformed_messages_are_dropped() -> None:
    proto = _gmcp_on()
    bad = [
        b"Char.Login {not json",
        b"",
        b"   ",
        b"Bad Package Name!",
        b"../../etc {}",
        b"Deep " + b"[" * 100000,
        b'Core.Hello ["not", "an", "object"]',
        b'Core.Supports.Set {"Char": 1}',
        b"Core.Supports.Add [1, 2]",
        b"\xff\xfe\x00binary",
    ]
    for payload in bad:
        events = proto.receive_data(sb(Opt.GMCP, payload))
        assert all(isinstance(e, ProtocolViolation) for e in events), payload
        assert events, payload
    assert proto.info.gmcp_packages == set()


def test_gmcp_supports_is_capped() -> None:
    proto = fresh(limits=TelnetLimits(max_gmcp_packages=10))
    proto.receive_data(iac(DO, Opt.GMCP))
    names = json.dumps([f"Pkg{n} 1" for n in range(100)]).encode()
    proto.receive_data(sb(Opt.GMCP, b"Core.Supports.Set " + names))
    proto.receive_data(sb(Opt.GMCP, b"Core.Supports.Add " + names.replace(b"Pkg", b"Other")))
    assert len(proto.info.gmcp_packages) == 10


def test_gmcp_before_agreement_is_ignored() -> None:
    proto = fresh()
    assert violations(proto.receive_data(sb(Opt.GMCP, b"Core.Ping")))
    assert proto.data_to_send() == b""


def test_gmcp_send_encoding() -> None:
    proto = fresh()
    assert proto.send_gmcp("Room.Info", {"name": "x"}) is False  # off: dropped
    assert proto.data_to_send() == b""
    proto.receive_data(iac(DO, Opt.GMCP))
    assert proto.send_gmcp("Room.Info", {"name": "Ünïcode", "exits": {"n": 2}})
    assert parse(proto.data_to_send()) == [
        ("sb", Opt.GMCP, 'Room.Info {"name":"Ünïcode","exits":{"n":2}}'.encode())
    ]
    with pytest.raises(ValueError):
        proto.send_gmcp("bad name", 1)
    with pytest.raises(TypeError):
        proto.send_gmcp("Room.Info", {"x": object()})


def test_gmcp_turned_off_by_the_client() -> None:
    proto = _gmcp_on()
    assert proto.receive_data(iac(DONT, Opt.GMCP)) == [OptionEnded(Opt.GMCP, True)]
    assert not proto.info.gmcp
    assert proto.send_gmcp("Core.Ping") is False


# ---------------------------------------------------------------- input lines


@pytest.mark.parametrize(
    "data",
    [b"a\r\nb\r\n", b"a\r\0b\r\0", b"a\nb\n", b"a\rb\r", b"a\r\nb\n", b"a\n\rb\n\r"],
)
def test_line_endings(data: bytes) -> None:
    events = fresh().receive_data(data)
    assert lines(events) == ["a", "b"]


def test_empty_lines_are_lines() -> None:
    assert lines(fresh().receive_data(b"\r\n\r\n\n\n\r\r")) == ["", "", "", "", ""]


def test_crlf_split_across_reads_is_one_ending() -> None:
    proto = fresh()
    assert lines(proto.receive_data(b"look\r")) == ["look"]
    assert lines(proto.receive_data(b"\nnorth\r")) == ["north"]
    assert lines(proto.receive_data(b"\0")) == []


def test_backspace_and_delete_edit_the_line() -> None:
    proto = fresh()
    assert lines(proto.receive_data(b"lokk\x08\x08ok\r\n")) == ["look"]
    assert lines(proto.receive_data(b"x\x7f\x7f\x7fsay\r\n")) == ["say"]
    assert lines(proto.receive_data("café\x7f\x7fe!\r\n".encode())) == ["cae!"]
    assert lines(proto.receive_data("日本\x08!\r\n".encode())) == ["日!"]
    assert lines(proto.receive_data(b"caf\xe9\x08e\r\n")) == ["cafe"]  # latin-1


def test_telnet_erase_character_and_line() -> None:
    proto = fresh()
    assert lines(proto.receive_data(b"abc" + iac(EC) + b"\r\n")) == ["ab"]
    assert lines(proto.receive_data(b"garbage" + iac(EL) + b"look\r\n")) == ["look"]


def test_controls_and_terminal_escapes_are_dropped() -> None:
    proto = fresh()
    data = b"\x01lo\x1b[Aok\x07\x1bOB \x1b[1;5Cthere\tnow\x1bx\r\n"
    assert lines(proto.receive_data(data)) == ["look there now"]
    # An escape sequence cut by the line end does not eat the next line.
    assert lines(proto.receive_data(b"a\x1b[\r\nb\r\n")) == ["a", "b"]


def test_doubled_iac_is_data_and_latin1_is_accepted() -> None:
    proto = fresh()
    assert lines(proto.receive_data(b"caf\xe9 \xff\xff\r\n")) == ["café ÿ"]
    assert lines(proto.receive_data("é".encode() + b" \xe9\r\n")) == ["é é"]  # mixed
    assert lines(proto.receive_data("héllo wörld\r\n".encode())) == ["héllo wörld"]


def test_long_lines_are_cut_and_flagged() -> None:
    proto = fresh(limits=TelnetLimits(max_line=10))
    events = proto.receive_data(b"x" * 5000 + b"\r\nshort\r\n")
    assert events == [Line("x" * 10, truncated=True), Line("short")]
    assert proto.buffered_input == 0
    proto.receive_data(b"y" * 100000)
    assert proto.buffered_input == 10


def test_a_line_cut_inside_a_utf8_character_drops_that_character() -> None:
    proto = fresh(limits=TelnetLimits(max_line=4))
    events = proto.receive_data("abc€\r\n".encode())
    assert events == [Line("abc", truncated=True)]


def test_are_you_there() -> None:
    proto = fresh()
    proto.receive_data(iac(AYT))
    assert proto.data_to_send() == b"[yes]\r\n"


# ---------------------------------------------------------------- output text


def test_output_line_endings() -> None:
    proto = fresh()
    proto.send_text("a\nb\r\nc\rd")
    assert proto.data_to_send() == b"a\r\nb\r\nc\r\0d"


# ---------------------------------------------------------------- malformed and truncated


def test_unterminated_subnegotiation_is_bounded_and_dropped() -> None:
    proto = fresh(limits=TelnetLimits(max_subnegotiation=100))
    proto.receive_data(iac(DO, Opt.GMCP))
    assert proto.receive_data(iac(SB, Opt.GMCP) + b"x" * 1_000_000) == []
    assert proto.buffered_input <= 100
    events = proto.receive_data(iac(SE) + b"look\r\n")
    assert violations(events) and lines(events) == ["look"]


def test_subnegotiation_interrupted_by_a_command() -> None:
    proto = fresh()
    events = proto.receive_data(iac(SB, Opt.NAWS) + b"\x00" + iac(DO, Opt.EOR) + b"hi\r\n")
    assert violations(events)
    assert OptionAgreed(Opt.EOR, True) in events
    assert lines(events) == ["hi"]


def test_stray_and_odd_commands() -> None:
    proto = fresh()
    events = proto.receive_data(iac(SE) + iac(NOP) + iac(GA) + iac(EOR) + iac(ord("a")) + b"b\r\n")
    assert len(violations(events)) == 2
    assert lines(events) == ["ab"]
    assert violations(proto.receive_data(sb(Opt.MSSP, b"\x01X\x02Y")))


def test_every_split_point_gives_the_same_result() -> None:
    session = (
        iac(DO, Opt.GMCP)
        + iac(WILL, Opt.TTYPE)
        + sb(Opt.TTYPE, b"\x00TINTIN++")
        + iac(WILL, Opt.NAWS)
        + sb(Opt.NAWS, b"\x00\xff\x00\x30")
        + b"say caf\xc3\xa9 \xff\xff\r"
        + b"\n"
        + sb(Opt.GMCP, b'Core.Supports.Set ["Room 1"]')
        + b"lo\x7fook\r\0"
        + iac(DO, Opt.MCCP2)
        + b"x" * 50
        + b"\n"
    )

    def run(chunks: list[bytes]) -> tuple[list[Any], bytes]:
        proto = fresh()
        events = [e for chunk in chunks for e in proto.receive_data(chunk)]
        return events, proto.data_to_send()

    whole = run([session])
    assert lines(whole[0]) == ["say café ÿ", "look", "x" * 50]
    assert run([bytes([b]) for b in session]) == whole
    for cut in range(1, len(session)):
        assert run([session[:cut], session[cut:]]) == whole


_LINE_PIECES = st.sampled_from(
    [b"say hi\r\n", b"look\r\n", b"\r\n", b"caf\xc3\xa9\r\n", b"caf\xe9\r\n", b"y" * 70 + b"\r\n"]
    + [b"say", b"", b"\xff\xff", b"\r", b"\n", b"\0", b"\x08", b"\x1b[A", b"x" * 63, iac(NOP), iac(EL)]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_LINE_PIECES, max_size=4).map(b"".join), max_size=12))
def test_a_whole_line_in_one_read_is_read_as_byte_by_byte(chunks: list[bytes]) -> None:
    # A read that is one whole line takes a shorter path: the same lines,
    # and the same state after it (what follows is read the same).
    def run(reads: list[bytes]) -> list[Any]:
        proto = fresh(limits=TelnetLimits(max_line=64))
        events = [e for read in reads for e in proto.receive_data(read)]
        events += proto.receive_data(b"\nnext\r\n")
        return [events, proto.buffered_input, proto.data_to_send()]

    assert run(chunks) == run([bytes([b]) for chunk in chunks for b in chunk])


_TELNET_BYTES = st.sampled_from(
    [IAC, SB, SE, WILL, WONT, DO, DONT, GA, EC, EL, AYT, NOP, EOR, 0, 1, 2, 8, 10, 13, 27]
    + [int(o) for o in Opt]
    + [ord(c) for c in 'a ;[{"}']
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(st.binary(max_size=200), st.lists(_TELNET_BYTES, max_size=200).map(bytes)),
        max_size=20,
    )
)
def test_random_bytes_never_raise_and_stay_bounded(chunks: list[bytes]) -> None:
    limits = TelnetLimits(max_line=64, max_subnegotiation=64)
    proto = TelnetProtocol(limits=limits, mssp=lambda: {"NAME": "x"})
    proto.start()
    offers = len(proto.data_to_send())
    total_in = 0
    total_out = 0
    for chunk in chunks:
        events = proto.receive_data(chunk)
        total_in += len(chunk)
        # At most one event per byte, counting a byte held over from the last
        # chunk (an IAC split from its command: b"\xff" then b"\n").
        assert len(events) <= len(chunk) + 1
        assert proto.buffered_input <= limits.max_line + limits.max_subnegotiation
        for event in events:
            if isinstance(event, Line):
                assert len(event.text.encode("utf-8")) <= 2 * limits.max_line
        total_out += len(proto.data_to_send())
    # Every answer is at most a few bytes per byte received, plus one MSSP
    # block and the offers.
    assert total_out <= 4 * total_in + 2048 + offers
    proto.send_text("still works")
    proto.data_to_send()


def test_insisting_on_echo_does_not_wait_for_an_answer_that_never_comes() -> None:
    # TinTin++ answers WILL ECHO with DO ECHO but never answers WONT ECHO.
    proto = TelnetProtocol(options={Opt.ECHO})
    proto.enable(Opt.ECHO, local=True, insist=True)
    assert parse(proto.data_to_send()) == [("WILL", Opt.ECHO)]
    proto.receive_data(iac(DO, Opt.ECHO))
    proto.disable(Opt.ECHO, local=True)  # the password arrived
    assert parse(proto.data_to_send()) == [("WONT", Opt.ECHO)]
    # ...no DONT comes; the next password prompt claims the echo again at once.
    proto.enable(Opt.ECHO, local=True, insist=True)
    assert parse(proto.data_to_send()) == [("WILL", Opt.ECHO)]
    proto.receive_data(iac(DO, Opt.ECHO))
    assert proto.enabled(Opt.ECHO, local=True)
    assert proto.data_to_send() == b""


def test_insisting_on_echo_settles_with_a_client_whose_dont_was_late() -> None:
    # A client that does answer, but only after we asked again: it ends on.
    proto = TelnetProtocol(options={Opt.ECHO})
    proto.enable(Opt.ECHO, local=True, insist=True)
    proto.receive_data(iac(DO, Opt.ECHO))
    proto.data_to_send()
    proto.disable(Opt.ECHO, local=True)
    proto.enable(Opt.ECHO, local=True, insist=True)
    assert parse(proto.data_to_send()) == [("WONT", Opt.ECHO), ("WILL", Opt.ECHO)]
    proto.receive_data(iac(DONT, Opt.ECHO))  # the late answer to WONT: taken as a refusal
    assert not proto.enabled(Opt.ECHO, local=True)
    proto.receive_data(iac(DO, Opt.ECHO))  # its answer to WILL
    assert proto.enabled(Opt.ECHO, local=True)
    assert parse(proto.data_to_send()) == [("WILL", Opt.ECHO)]  # acknowledged, once
    proto.receive_data(iac(DO, Opt.ECHO))  # a Q-method client would ignore it; so do we
    assert proto.data_to_send() == b"" and proto.enabled(Opt.ECHO, local=True)
