"""Connection governance, the pure parts: admission counting, the login
throttle's policy (guessing, creation), and the telnet machine's handling
of over-long subnegotiations. The same attacks over real sockets are in
tests/integration/test_connection_governance.py."""

from __future__ import annotations

import logging
import time

import pytest

from driver.auth.accounts import Backoff, LoginThrottle, RateWindow, hash_password, new_account
from driver.auth.login import LoggedIn, Login, Show, VerifyPassword
from driver.net.admission import Admission, ConnectionLimits, Refusal, Ticket, address_key
from driver.net.session import ClientInfo
from driver.net.telnet import Line, Opt, ProtocolViolation, TelnetLimits, TelnetProtocol
from driver.store.accounts import MemoryAccountStore

from ..driver_support import CHEAP, FakeClock, FakeSession

IAC, SB, SE = 255, 250, 240

# -- admission ---------------------------------------------------------------------------------


def admission(**limits: object) -> tuple[Admission, FakeClock]:
    clock = FakeClock(100.0)
    return Admission(ConnectionLimits(**limits), clock=clock), clock  # type: ignore[arg-type]


def test_address_key_groups_ipv6_by_prefix() -> None:
    assert address_key("192.0.2.7") == "192.0.2.7"
    assert address_key("2001:db8:1:2::5") == address_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::5") != address_key("2001:db8:1:2::5")
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_key("fe80::1%eth0", 64) == "fe80::/64"
    assert address_key("unknown") == "unknown"


def test_per_address_cap_refuses_the_excess_only_from_that_address() -> None:
    door, _ = admission(per_address=3, pre_login_total=100)
    tickets = [door.admit("10.0.0.1") for _ in range(3)]
    assert all(isinstance(t, Ticket) for t in tickets)
    refused = door.admit("10.0.0.1")
    assert isinstance(refused, Refusal) and refused.reason == "per-address"
    assert isinstance(door.admit("10.0.0.2"), Ticket)
    first = tickets[0]
    assert isinstance(first, Ticket)
    first.release()
    first.release()  # idempotent
    assert door.open_from("10.0.0.1") == 2
    assert isinstance(door.admit("10.0.0.1"), Ticket)


def test_pre_login_cap_counts_only_those_not_logged_in() -> None:
    door, _ = admission(per_address=100, pre_login_total=2)
    a, b = door.admit("10.0.0.1"), door.admit("10.0.0.2")
    assert isinstance(a, Ticket) and isinstance(b, Ticket)
    refused = door.admit("10.0.0.3")
    assert isinstance(refused, Refusal) and refused.reason == "pre-login"
    session = FakeSession("10.0.0.1:4000")
    a.attach(session)
    door.logged_in(session)  # as the gateway does
    assert door.pre_login == 1 and door.open == 2
    assert isinstance(door.admit("10.0.0.3"), Ticket)
    a.release()
    assert door.pre_login == 2 and door.open == 2  # a logged-in release leaves pre-login alone
    door.logged_in(FakeSession())  # a session nobody admitted: ignored


def test_pre_login_timeout_tells_and_closes_the_session() -> None:
    door, clock = admission(pre_login_timeout=60.0)
    ticket = door.admit("10.0.0.1")
    assert isinstance(ticket, Ticket) and ticket.deadline == clock.now + 60.0
    session = FakeSession()
    ticket.attach(session)
    ticket.expire()
    assert "You took too long to log in" in session.text()
    assert session.closed == "pre-login timeout"

    logged = door.admit("10.0.0.1")
    assert isinstance(logged, Ticket)
    other = FakeSession()
    logged.attach(other)
    door.logged_in(other)
    logged.expire()  # too late: it logged in
    assert other.closed is None


def test_released_tickets_hold_nothing() -> None:
    door, _ = admission()
    ticket = door.admit("10.0.0.1")
    assert isinstance(ticket, Ticket)
    ticket.attach(FakeSession())
    ticket.release()
    assert door._sessions == {} and door._per_key == {}
    assert ticket._session is None and ticket._expire is None and ticket._admission is None


def test_refusals_are_logged_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    door, clock = admission(per_address=1, log_interval=10.0)
    assert isinstance(door.admit("10.0.0.1"), Ticket)
    for _ in range(1000):
        assert isinstance(door.admit("10.0.0.1"), Refusal)
    assert len(caplog.records) == 1 and not caplog.records[0].exc_info
    clock.advance(10.0)
    door.admit("10.0.0.1")
    assert len(caplog.records) == 2
    assert "1000 connections refused" in caplog.records[1].getMessage()


# -- the login throttle ------------------------------------------------------------------------


def test_guessing_locks_the_guesser_out_of_that_account_not_the_owner() -> None:
    clock = FakeClock(1000.0)
    throttle = LoginThrottle(clock=clock)  # the production policy
    for _ in range(36):
        if throttle.retry_after("6.6.6.6", "admin") == 0:
            throttle.record_failure("6.6.6.6", "admin")
        clock.advance(0.1)
    assert throttle.retry_after("6.6.6.6", "admin") > 0
    assert throttle.retry_after("10.0.0.1", "admin") == 0  # the owner, elsewhere
    assert throttle.retry_after("6.6.6.6", "bob") == 0  # other accounts from there


def test_guessing_spread_over_many_addresses_locks_strangers_not_the_owner() -> None:
    clock = FakeClock(1000.0)
    throttle = LoginThrottle(
        clock=clock, account_policy=Backoff(free=6, base=2.0, cap=60.0), account_share=2
    )
    throttle.record_success("10.0.0.1", "admin")  # the owner's address
    for attacker in range(3):
        for _ in range(5):  # each address adds at most 2 to the account's count
            throttle.record_failure(f"6.6.6.{attacker}", "admin")
    assert throttle.retry_after("7.7.7.7", "admin") == pytest.approx(2.0)
    assert throttle.retry_after("10.0.0.1", "admin") == 0


def test_attempts_in_flight_count_against_the_account_not_the_address() -> None:
    throttle = LoginThrottle(clock=FakeClock(1000.0), address_policy=Backoff(2, 1.0, 60.0))
    for index in range(50):  # fifty people behind one NAT, logging in at once
        assert throttle.retry_after("10.9.9.9", f"pupil{index}") == 0
        throttle.attempt_started("10.9.9.9", f"pupil{index}")
    assert throttle.address_retry_after("10.9.9.9") == 0
    for index in range(2):
        throttle.attempt_failed("10.9.9.9", f"pupil{index}")
    assert throttle.address_retry_after("10.9.9.9") == pytest.approx(1.0)


def test_account_creation_window_per_address() -> None:
    clock = FakeClock(1000.0)
    throttle = LoginThrottle(clock=clock, creation_rate=RateWindow(count=3, per=600.0))
    for _ in range(3):
        assert throttle.creation_retry_after("10.0.0.1") == 0
        throttle.record_creation("10.0.0.1")
        clock.advance(10.0)
    assert throttle.creation_retry_after("10.0.0.1") == pytest.approx(570.0)
    assert throttle.creation_retry_after("10.0.0.2") == 0
    throttle.creation_failed("10.0.0.1")  # the last one was not made after all
    assert throttle.creation_retry_after("10.0.0.1") == 0
    throttle.record_creation("10.0.0.1")
    clock.advance(571.0)
    assert throttle.creation_retry_after("10.0.0.1") == 0


def test_login_screen_refuses_a_fourth_character_with_a_clear_message() -> None:
    store = MemoryAccountStore()
    throttle = LoginThrottle(clock=FakeClock(1000.0))
    said = ""
    for index in range(4):
        login = Login(store, throttle, "10.0.0.1", params=CHEAP)
        for action in login.on_line(f"create alt{chr(97 + index)}char secret99"):
            if isinstance(action, Show):
                said += action.text
            elif not isinstance(action, LoggedIn) and hasattr(action, "compute"):
                login.password_hashed(action.compute())  # type: ignore[arg-type]
    assert store.count() == 3
    assert "Too many characters have been created from your address recently" in said
    assert "try again in 10 minutes" in said


def test_a_check_queued_behind_a_lockout_is_not_run() -> None:
    store = MemoryAccountStore()
    store.create(new_account("alice", hash_password("secret", CHEAP)))
    login = Login(store, LoginThrottle(clock=FakeClock(1000.0)), "10.0.0.1", params=CHEAP)
    assert isinstance(login.on_line("connect alice guess")[-1], VerifyPassword)
    actions = login.password_throttled(3.0)
    assert "Please wait 3 seconds" in "".join(a.text for a in actions if isinstance(a, Show))
    assert login.stage.value == "name"


# -- over-long subnegotiations -----------------------------------------------------------------


def fresh(limits: TelnetLimits | None = None) -> TelnetProtocol:
    proto = TelnetProtocol(ClientInfo(transport="telnet", peer="test"), limits=limits)
    proto.start()
    proto.data_to_send()
    proto.receive_data(bytes((IAC, 253, Opt.GMCP)))  # DO GMCP
    return proto


@pytest.mark.parametrize(
    "payload",
    [b"x" * (10 << 20), b"\xff" * (10 << 20), b"a\xff\xff" * ((10 << 20) // 3)],
    ids=["plain", "all-escaped", "every-other-escaped"],
)
def test_ten_megabyte_subnegotiation_is_dropped_at_once(payload: bytes) -> None:
    """10 MB of subnegotiation took ~10 s (a byte at a time); now it is taken
    in runs: well under a second, never more than the cap held, every
    dropped byte counted as it arrives, and the line after it still read."""
    proto = fresh(TelnetLimits(max_subnegotiation=16384))
    proto.receive_data(bytes((IAC, SB, Opt.GMCP)))
    started = time.perf_counter()
    for at in range(0, len(payload), 4096):
        assert proto.receive_data(payload[at : at + 4096]) == []
        assert proto.buffered_input <= 16384
    elapsed = time.perf_counter() - started
    unescaped = len(payload) - payload.count(b"\xff\xff")
    assert proto.subnegotiation_bytes_dropped == unescaped - 16384
    events = proto.receive_data(bytes((IAC, SE)) + b"look\r\n")
    assert isinstance(events[0], ProtocolViolation) and events[-1] == Line("look")
    assert elapsed < 2.0, elapsed  # about 0.01-0.3 s; it was about 10 s


def test_subnegotiation_runs_match_the_byte_at_a_time_parse() -> None:
    """The fast path means exactly what the byte-at-a-time parser means
    (events and dropped count), however the input is split and wherever the
    cap falls, doubled IACs included."""
    body = b'Char.Test {"s":"a\xff\xffb\xff\xff\xff\xffc"} ' + b"z" * 30
    message = bytes((IAC, SB, Opt.GMCP)) + body + bytes((IAC, SE)) + b"look\r\n"
    unescaped = len(body.replace(b"\xff\xff", b"\xff"))

    def bytewise(cap: int) -> tuple[list[object], int]:
        proto = fresh(TelnetLimits(max_subnegotiation=cap))
        events: list[object] = []
        proto._events = events  # type: ignore[assignment]
        for byte in message:
            proto._receive_byte(byte)
        return events, proto.subnegotiation_bytes_dropped

    def in_runs(cap: int, cut: int) -> tuple[list[object], int]:
        proto = fresh(TelnetLimits(max_subnegotiation=cap))
        events: list[object] = [*proto.receive_data(message[:cut]), *proto.receive_data(message[cut:])]
        return events, proto.subnegotiation_bytes_dropped

    for cap in (5, unescaped - 1, unescaped, 200):
        reference = bytewise(cap)
        assert reference[1] == max(0, unescaped - cap)
        assert reference[0][-1] == Line("look")
        for cut in range(1, len(message)):
            assert in_runs(cap, cut) == reference, (cap, cut)
