"""Persistence: where the world lives between runs.

The driver talks to a :class:`Store` in plain rows (:mod:`.records`), never in
live objects, so an engine knows nothing of the event loop and the driver
nothing of SQL. :class:`~.sqlite.SqliteStore` is the engine; :mod:`.snapshot`
dumps any store to a portable CBOR file and restores one into a new SQLite
data directory.

Every call here blocks: the driver runs :meth:`Store.commit` and
:meth:`Store.load` in a worker thread (``trio.to_thread.run_sync``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol

from driver.store.accounts import Account, AccountStore
from driver.store.errors import (
    DumpError,
    RestoreTargetError,
    SchemaTooNewError,
    SchemaTooOldError,
    StoreClosedError,
    StoreCorruptError,
    StoreError,
    StoreFullError,
    StoreIOError,
    StoreLockedError,
)
from driver.store.records import (
    BanRow,
    Batch,
    BlueprintRow,
    CalloutRow,
    ErrorRow,
    ObjectRow,
    ResetRow,
    Snapshot,
    TenantRow,
    TokenRow,
    VersionRow,
)

__all__ = [
    "BanRow",
    "Batch",
    "ErrorRow",
    "TokenRow",
    "BlueprintRow",
    "CalloutRow",
    "DumpError",
    "ObjectRow",
    "ResetRow",
    "RestoreTargetError",
    "Scan",
    "SchemaTooNewError",
    "SchemaTooOldError",
    "Snapshot",
    "Store",
    "StoreClosedError",
    "StoreCorruptError",
    "StoreError",
    "StoreFullError",
    "StoreIOError",
    "StoreLockedError",
    "TenantRow",
    "VersionRow",
]


class Scan(Protocol):
    """A consistent, streaming view of a whole store (one read transaction).

    ``schema`` is the engine's schema version, for information (a dump is
    independent of it)."""

    schema: int

    def meta(self) -> dict[str, Any]: ...
    def tenants(self) -> Iterator[TenantRow]: ...
    def versions(self) -> Iterator[VersionRow]: ...
    def blueprints(self) -> Iterator[BlueprintRow]: ...
    def objects(self) -> Iterator[ObjectRow]: ...
    def callouts(self) -> Iterator[CalloutRow]: ...
    def resets(self) -> Iterator[ResetRow]: ...
    def accounts(self) -> Iterator[Account]: ...
    def errors(self) -> Iterator[ErrorRow]: ...
    def tokens(self) -> Iterator[TokenRow]: ...
    def bans(self) -> Iterator[BanRow]: ...


class Store(AccountStore, Protocol):
    """What the driver needs from a storage engine.

    Also an :class:`~driver.store.accounts.AccountStore` (small immediate
    transactions), so the login screen can use the store directly.
    """

    def commit(self, batch: Batch) -> None:
        """Write ``batch`` atomically and durably, or raise a StoreError and
        write nothing of it."""
        ...

    def load(self) -> Snapshot:
        """Everything, from one consistent read."""
        ...

    def scan(self) -> AbstractContextManager[Scan]:
        """Stream everything from one consistent read (for dumps)."""
        ...

    def close(self) -> None: ...
