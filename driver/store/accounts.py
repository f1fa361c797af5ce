"""Account records and the protocol of the stores that keep them.

The records live at the store layer (the SQLite store and dumps read and
write them); the rules about accounts (names, passwords, login) live above,
in :mod:`driver.auth`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

#: The tenant a world had before there were several (and the one `jitrealm
#: run` creates first): accounts and rows written without a tenant belong to it.
DEFAULT_TENANT = "demo"


def name_key(name: str) -> str:
    """The case-insensitive identity of a name: what stores index by."""
    return name.lower()


@dataclass(frozen=True, slots=True)
class Account:
    """One account, as plain data. Change it with :func:`dataclasses.replace`.

    ``name`` is the display form (``Alice``); :attr:`key` is its identity.
    Times are Unix seconds (wall clock: they are shown to people and stored).
    ``is_admin``: the world's admin (moderation, making wizards); an admin is
    always a wizard too.
    """

    name: str
    password_hash: str = field(repr=False)
    is_wizard: bool = False
    created_at: float = 0.0
    last_login: float | None = None
    #: The world the account belongs to: each tenant has its own accounts.
    tenant: str = DEFAULT_TENANT
    is_admin: bool = False

    def __post_init__(self) -> None:
        if self.is_admin and not self.is_wizard:
            object.__setattr__(self, "is_wizard", True)  # an admin is a wizard

    @property
    def key(self) -> str:
        return name_key(self.name)


class AccountExists(Exception):
    """Raised by :meth:`AccountStore.create` when the name is taken."""


class AccountNotFound(Exception):
    """Raised by :meth:`AccountStore.update` for an account that does not exist."""


class AccountStore(Protocol):
    """Where accounts live. Names are looked up case-insensitively.

    Small and synchronous on purpose: the SQLite store answers these in
    microseconds, and the slow part of a login (the KDF) happens elsewhere.
    """

    def get(self, name: str) -> Account | None: ...

    def create(self, account: Account) -> None:
        """Add ``account``; raise :class:`AccountExists` if its name is taken."""
        ...

    def update(self, account: Account) -> None:
        """Replace the stored record with the same key; raise
        :class:`AccountNotFound` if there is none."""
        ...

    def count(self) -> int: ...


class MemoryAccountStore:
    """An :class:`AccountStore` in a dict, for tests and ephemeral servers."""

    def __init__(self) -> None:
        self._accounts: dict[str, Account] = {}

    def get(self, name: str) -> Account | None:
        return self._accounts.get(name_key(name))

    def create(self, account: Account) -> None:
        if account.key in self._accounts:
            raise AccountExists(account.name)
        self._accounts[account.key] = account

    def update(self, account: Account) -> None:
        if account.key not in self._accounts:
            raise AccountNotFound(account.name)
        self._accounts[account.key] = account

    def count(self) -> int:
        return len(self._accounts)
