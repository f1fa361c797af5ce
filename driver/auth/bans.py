"""Bans: who may not log in to a world, and from where, and until when.

A ban is of an account (by its name, case-insensitively) or of an address
(an IPv4 address, or the IPv6 ``/64`` an address is in: one home or one
server, as connection admission counts them; see
:func:`driver.net.admission.address_key`). It lasts until a wall-clock time
or for good, and stops applying by itself once that time has passed:
nothing has to run to lift it. Each ban has a reason and who made it.

Sans-IO: :class:`Bans` keeps one tenant's bans in memory over a
:class:`BanStore` (the SQLite store's ``bans`` table, or
:class:`MemoryBanStore`), and reads time from an injected clock, so it is
tested with a fake one. Parsing a moderator's words (``30m``, ``2h``,
``7d``; a name or an address) and saying how long is left live here too.
"""

from __future__ import annotations

import ipaddress
import math
import re
import time
from collections.abc import Callable
from typing import Protocol

from driver.net.admission import address_key
from driver.store.accounts import name_key
from driver.store.records import BanRow

ACCOUNT = "account"
ADDRESS = "address"

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw]?)")
#: The longest ban with an end: longer is "for good".
MAX_DURATION = 10 * 365 * 86400.0


class BanStore(Protocol):
    """Where one tenant's bans are kept (each write at once)."""

    def put(self, row: BanRow) -> None: ...
    def delete(self, kind: str, target: str) -> bool: ...
    def all(self) -> list[BanRow]: ...


class MemoryBanStore:
    """A :class:`BanStore` in a dict, for tests and ephemeral servers."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], BanRow] = {}

    def put(self, row: BanRow) -> None:
        self._rows[(row.kind, row.target)] = row

    def delete(self, kind: str, target: str) -> bool:
        return self._rows.pop((kind, target), None) is not None

    def all(self) -> list[BanRow]:
        return list(self._rows.values())


class BanTable(Protocol):
    """The ban table of a store of many tenants (:class:`~driver.store.sqlite.SqliteStore`)."""

    def put_ban(self, row: BanRow) -> None: ...
    def delete_ban(self, tenant: str, kind: str, target: str) -> bool: ...
    def bans(self) -> list[BanRow]: ...


class TableBanStore:
    """One tenant's :class:`BanStore` in a store's ban table."""

    def __init__(self, table: BanTable, tenant: str) -> None:
        self.table = table
        self.tenant = tenant

    def put(self, row: BanRow) -> None:
        self.table.put_ban(row)

    def delete(self, kind: str, target: str) -> bool:
        return self.table.delete_ban(self.tenant, kind, target)

    def all(self) -> list[BanRow]:
        return [row for row in self.table.bans() if row.tenant == self.tenant]


# -- words ---------------------------------------------------------------------------------


def parse_duration(text: str) -> float | None:
    """``30m``, ``2h``, ``7d``, ``1w``, ``90s``, ``1h30m`` or bare seconds
    (``600``) -> seconds; None if it is not a duration (or is zero)."""
    text = text.strip().lower()
    if not text:
        return None
    total = 0.0
    pos = 0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNITS[match.group(2) or "s"]
        pos = match.end()
    if pos != len(text) or total <= 0:
        return None
    return min(total, MAX_DURATION)


def describe_duration(seconds: float) -> str:
    """How long, in the two largest units: ``2 days 3 hours``, ``5 minutes``."""
    seconds = max(1, math.ceil(seconds))
    parts: list[str] = []
    for name, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {name}" + ("s" if count != 1 else ""))
        if len(parts) == 2:
            break
    return " ".join(parts)


def is_address(text: str) -> bool:
    """Whether a moderator's target names an address (``203.0.113.7``,
    ``2001:db8::1``, ``2001:db8::/64``) rather than an account."""
    try:
        ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return False
    return True


def address_target(text: str, ipv6_prefix: int = 64) -> str:
    """The key an address ban is kept under: the IPv4 address, or the
    IPv6 ``/ipv6_prefix`` network (what :func:`address_key` gives a peer)."""
    host = text.strip().split("/", 1)[0]
    return address_key(host, ipv6_prefix)


def stamp(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at))


# -- the bans of one world -----------------------------------------------------------------


class Bans:
    """One tenant's bans (see module docstring). ``clock``: wall seconds."""

    def __init__(
        self,
        store: BanStore,
        tenant: str,
        *,
        clock: Callable[[], float] = time.time,
        ipv6_prefix: int = 64,
    ) -> None:
        self.store = store
        self.tenant = tenant
        self.clock = clock
        self.ipv6_prefix = ipv6_prefix
        self._rows: dict[tuple[str, str], BanRow] = {
            (row.kind, row.target): row for row in store.all()
        }

    def target_of(self, text: str) -> tuple[str, str]:
        """(kind, target) a moderator's word names: an address or an account."""
        if is_address(text):
            return ADDRESS, address_target(text, self.ipv6_prefix)
        return ACCOUNT, name_key(text.strip())

    def ban(self, kind: str, target: str, *, seconds: float | None, reason: str, by: str) -> BanRow:
        """Ban ``target`` (as :meth:`target_of` gives it) for ``seconds``
        (None: for good), replacing any ban of it; kept at once."""
        until = None if seconds is None else self.clock() + seconds
        row = BanRow(self.tenant, kind, target, until, reason, by)
        self.store.put(row)
        self._rows[(kind, target)] = row
        return row

    def unban(self, kind: str, target: str) -> bool:
        """Lift a ban (an expired one too); True if there was one."""
        had = self._rows.pop((kind, target), None) is not None
        return self.store.delete(kind, target) or had

    def active(self, kind: str, target: str) -> BanRow | None:
        row = self._rows.get((kind, target))
        if row is None or not self._applies(row):
            return None
        return row

    def of_account(self, name: str) -> BanRow | None:
        return self.active(ACCOUNT, name_key(name))

    def of_address(self, key: str) -> BanRow | None:
        """The ban of an address as :func:`address_key` gives it for a peer."""
        return self.active(ADDRESS, key)

    def all_active(self) -> list[BanRow]:
        """Every ban in force, soonest to end first (for good last). Expired
        ones are dropped from the store on the way."""
        for key, row in list(self._rows.items()):
            if not self._applies(row):
                del self._rows[key]
                self.store.delete(row.kind, row.target)
        return sorted(
            self._rows.values(),
            key=lambda r: (r.until is None, r.until or 0.0, r.kind, r.target),
        )

    def remaining(self, row: BanRow) -> float | None:
        """Seconds until ``row`` ends; None: never."""
        return None if row.until is None else max(0.0, row.until - self.clock())

    def describe_end(self, row: BanRow) -> str:
        """``until 2025-05-01 12:00 UTC (2 hours 5 minutes from now)``, or ``for good``."""
        left = self.remaining(row)
        if left is None or row.until is None:
            return "for good"
        return f"until {stamp(row.until)} ({describe_duration(left)} from now)"

    def _applies(self, row: BanRow) -> bool:
        return row.until is None or row.until > self.clock()
