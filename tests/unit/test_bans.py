"""Bans: durations, addresses by IPv4 and IPv6 /64, expiry on a fake clock,
and keeping them in a store."""

from __future__ import annotations

from driver.auth.bans import (
    ACCOUNT,
    ADDRESS,
    Bans,
    MemoryBanStore,
    TableBanStore,
    address_target,
    describe_duration,
    is_address,
    parse_duration,
)
from driver.net.admission import address_key
from driver.store.records import BanRow

from ..driver_support import FakeClock


def test_durations() -> None:
    assert parse_duration("30m") == 1800
    assert parse_duration("2h") == 7200
    assert parse_duration("7d") == 7 * 86400
    assert parse_duration("1h30m") == 5400
    assert parse_duration("90") == 90
    assert parse_duration("1w") == 604800
    for bad in ("", "0", "soon", "5x", "h", "-5m", "m5"):
        assert parse_duration(bad) is None, bad
    assert describe_duration(7200) == "2 hours"
    assert describe_duration(93784) == "1 day 2 hours"
    assert describe_duration(61) == "1 minute 1 second"
    assert describe_duration(0.2) == "1 second"


def test_targets_are_accounts_or_addresses() -> None:
    assert is_address("203.0.113.7") and is_address("2001:db8::1") and is_address("2001:db8::/64")
    assert not is_address("ann") and not is_address("Ann")
    bans = Bans(MemoryBanStore(), "demo")
    assert bans.target_of("Ann") == (ACCOUNT, "ann")
    assert bans.target_of("203.0.113.7") == (ADDRESS, "203.0.113.7")
    assert bans.target_of("2001:db8:1:2:3::9") == (ADDRESS, "2001:db8:1:2::/64")
    assert bans.target_of("2001:db8:1:2::/64") == (ADDRESS, "2001:db8:1:2::/64")
    assert address_target("::ffff:203.0.113.7") == "203.0.113.7"


def test_an_address_ban_covers_the_whole_ipv6_64_and_only_that_ipv4() -> None:
    bans = Bans(MemoryBanStore(), "demo")
    bans.ban(*bans.target_of("2001:db8:1:2::1"), seconds=None, reason="", by="Admin")
    bans.ban(*bans.target_of("203.0.113.7"), seconds=None, reason="", by="Admin")
    assert bans.of_address(address_key("2001:db8:1:2:ffff::42")) is not None  # same /64
    assert bans.of_address(address_key("2001:db8:1:3::1")) is None  # the next /64
    assert bans.of_address(address_key("203.0.113.7")) is not None
    assert bans.of_address(address_key("::ffff:203.0.113.7")) is not None  # mapped
    assert bans.of_address(address_key("203.0.113.8")) is None


def test_bans_expire_by_themselves() -> None:
    clock = FakeClock(1_000_000.0)
    store = MemoryBanStore()
    bans = Bans(store, "demo", clock=clock)
    row = bans.ban(ACCOUNT, "ann", seconds=3600, reason="rude", by="Admin")
    bans.ban(ACCOUNT, "bob", seconds=None, reason="", by="Admin")
    assert row.until == 1_000_000.0 + 3600
    assert bans.of_account("ANN") is row
    assert "1 hour from now" in bans.describe_end(row)
    clock.advance(1800)
    assert "30 minutes from now" in bans.describe_end(row)
    clock.advance(1800)
    assert bans.of_account("ann") is None  # over, with nothing run
    assert (
        bans.of_account("bob") is not None
        and bans.describe_end(bans.of_account("bob")) == "for good"
    )
    assert [r.target for r in bans.all_active()] == ["bob"]
    assert [r.target for r in store.all()] == ["bob"]  # the expired one is dropped on listing
    assert bans.unban(ACCOUNT, "bob") and not bans.unban(ACCOUNT, "bob")
    assert bans.all_active() == []


def test_bans_are_per_tenant_in_a_shared_table_and_reload() -> None:
    class Table:
        def __init__(self) -> None:
            self.rows: dict[tuple[str, str, str], BanRow] = {}

        def put_ban(self, row: BanRow) -> None:
            self.rows[(row.tenant, row.kind, row.target)] = row

        def delete_ban(self, tenant: str, kind: str, target: str) -> bool:
            return self.rows.pop((tenant, kind, target), None) is not None

        def bans(self) -> list[BanRow]:
            return list(self.rows.values())

    table = Table()
    demo = Bans(TableBanStore(table, "demo"), "demo")
    acme = Bans(TableBanStore(table, "acme"), "acme")
    demo.ban(ACCOUNT, "ann", seconds=None, reason="", by="Admin")
    assert acme.of_account("ann") is None
    assert Bans(TableBanStore(table, "demo"), "demo").of_account("ann") is not None  # reloaded
