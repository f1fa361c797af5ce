"""Plain rows that cross the boundary between the driver and a store.

Rows hold only plain data (str, int, bytes, dicts and lists of them), never
driver objects, for two reasons: a store engine must not depend on the
driver's in-memory model, and the committer writes rows from a worker thread
while the event loop goes on changing the live objects. A row is therefore a
*copy* taken at the end of an event; in particular ``ObjectRow.state`` must
be a fresh dict (``dict(obj.state)``), not the object's own map.

A :class:`Batch` is what one group commit writes. It records, per key, the
final effect of a run of changes, so that folding many events together
(:meth:`Batch.merge`) writes each object once however often it changed, while
still meaning exactly "apply these events one after another".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from driver.store.accounts import DEFAULT_TENANT, Account, name_key

__all__ = [
    "Account",
    "BanRow",
    "Batch",
    "BlueprintRow",
    "CalloutRow",
    "ErrorRow",
    "ObjectRow",
    "ResetRow",
    "Snapshot",
    "TenantRow",
    "TokenRow",
    "VersionRow",
]


@dataclass(frozen=True, slots=True)
class TenantRow:
    """A tenant and the counters that must never go backwards across a restart
    (clone ids and callout handles are never reused)."""

    name: str
    quotas: dict[str, Any]  # plain data: the driver converts its Quotas to and from a dict
    clone_counter: int
    next_handle: int
    #: The tenant's own settings as plain data (title, start room, port,
    #: suspended, created): the driver reads and writes them.
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ErrorRow:
    """One recorded guest error or budget hit, for the tenant's authors.
    ``record`` is plain data (see :class:`driver.tenancy.errors.GuestErrorRecord`);
    ``seq`` increases per tenant, and a store keeps the newest ``keep``."""

    tenant: str
    seq: int
    at: float
    record: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TokenRow:
    """An API bearer token, stored as the SHA-256 of its secret (tokens are
    random, so a fast hash suffices). ``tenant`` None: server-wide (root)."""

    hash: str
    role: str
    tenant: str | None
    label: str
    created_at: float


@dataclass(frozen=True, slots=True)
class BanRow:
    """A ban in one tenant: of an account (``kind`` "account", target the
    lower-case name) or an address (``kind`` "address"); ``until`` None: for
    good."""

    tenant: str
    kind: str
    target: str
    until: float | None
    reason: str
    by: str


@dataclass(frozen=True, slots=True)
class ObjectRow:
    """One object. ``blueprint`` is None for players.

    ``position`` orders an environment's contents. Only the order matters, so
    the driver may use any increasing number (an arrival counter avoids
    rewriting every sibling when one object leaves).
    """

    tenant: str
    id: str
    blueprint: str | None
    version: str | None
    env: str | None
    position: int
    heartbeat_ms: int
    state: dict[str, bytes]


@dataclass(frozen=True, slots=True)
class CalloutRow:
    """A pending callout. The driver converts its monotonic due time to wall
    clock when it writes; on restore the remaining delay is
    ``due_wall_ms - Snapshot.alive_wall_ms`` (the world was asleep meanwhile).
    ``seq`` keeps callouts due in the same millisecond in FIFO order."""

    tenant: str
    handle: int
    object_id: str
    method: str
    args: bytes
    due_wall_ms: int
    seq: int


@dataclass(frozen=True, slots=True)
class ResetRow:
    """When a room's next reset is due (wall clock, like callouts)."""

    tenant: str
    object_id: str
    due_wall_ms: int


@dataclass(frozen=True, slots=True)
class BlueprintRow:
    """A blueprint: its current version and every version it has published."""

    tenant: str
    path: str
    version: str | None
    language: str
    source: str | None
    source_hash: str | None
    history: list[str]


@dataclass(frozen=True, slots=True)
class VersionRow:
    """A compiled component, content-addressed and shared by all tenants."""

    version: str
    component: bytes


ObjectKey = tuple[str, str]  # (tenant, object id)


@dataclass(slots=True)
class Batch:
    """The changes one group commit writes, in one transaction.

    Tenants and objects are kept as upserts plus a set of *purged* keys: a
    delete of a tenant or object also removes what hangs off it (a tenant's
    objects, blueprints, callouts, resets, accounts, errors, bans and tokens; an object's callouts and reset).
    A store applies purges first, then upserts, which is the same as replaying
    the changes in order because a delete also drops the earlier upserts it
    overrides from the batch. Callouts, resets, blueprints and accounts are a
    row (upsert) or None (delete) per key; versions are insert-if-absent.

    ``alive_wall_ms`` is the wall clock time the world was last known running
    (the store keeps the one it was given last, even if the clock went back:
    due times in the same batch were computed with that clock).
    """

    tenants: dict[str, TenantRow] = field(default_factory=dict)
    purged_tenants: set[str] = field(default_factory=set)
    objects: dict[ObjectKey, ObjectRow] = field(default_factory=dict)
    purged_objects: set[ObjectKey] = field(default_factory=set)
    callouts: dict[tuple[str, int], CalloutRow | None] = field(default_factory=dict)
    resets: dict[ObjectKey, ResetRow | None] = field(default_factory=dict)
    blueprints: dict[tuple[str, str], BlueprintRow | None] = field(default_factory=dict)
    versions: dict[str, VersionRow] = field(default_factory=dict)
    accounts: dict[tuple[str, str], Account | None] = field(default_factory=dict)
    errors: list[ErrorRow] = field(default_factory=list)  # appended; the store trims
    errors_keep: dict[str, int] = field(default_factory=dict)  # tenant -> how many to keep
    alive_wall_ms: int | None = None

    def __bool__(self) -> bool:
        """True if committing this batch would change anything."""
        return bool(
            self.tenants
            or self.purged_tenants
            or self.objects
            or self.purged_objects
            or self.callouts
            or self.resets
            or self.blueprints
            or self.versions
            or self.accounts
            or self.errors
            or self.alive_wall_ms is not None
        )

    # -- recording changes ------------------------------------------------------

    def put_tenant(self, row: TenantRow) -> None:
        self.tenants[row.name] = row

    def delete_tenant(self, name: str) -> None:
        """Delete a tenant and everything it owns (objects, blueprints, timers)."""
        self._purge_tenants({name})

    def put_object(self, row: ObjectRow) -> None:
        """Write the whole row (state included), replacing what was stored."""
        self.objects[(row.tenant, row.id)] = row

    def delete_object(self, tenant: str, object_id: str) -> None:
        """Delete an object with its callouts and reset schedule."""
        self._purge_objects({(tenant, object_id)})

    def put_callout(self, row: CalloutRow) -> None:
        self.callouts[(row.tenant, row.handle)] = row

    def delete_callout(self, tenant: str, handle: int) -> None:
        self.callouts[(tenant, handle)] = None

    def put_reset(self, row: ResetRow) -> None:
        self.resets[(row.tenant, row.object_id)] = row

    def delete_reset(self, tenant: str, object_id: str) -> None:
        self.resets[(tenant, object_id)] = None

    def put_blueprint(self, row: BlueprintRow) -> None:
        self.blueprints[(row.tenant, row.path)] = row

    def delete_blueprint(self, tenant: str, path: str) -> None:
        self.blueprints[(tenant, path)] = None

    def put_version(self, row: VersionRow) -> None:
        """Versions are content-addressed: the first one recorded stays."""
        self.versions.setdefault(row.version, row)

    def put_account(self, account: Account) -> None:
        self.accounts[(account.tenant, account.key)] = account

    def delete_account(self, name: str, tenant: str = DEFAULT_TENANT) -> None:
        self.accounts[(tenant, name_key(name))] = None

    def add_error(self, row: ErrorRow, keep: int) -> None:
        """Record a guest error; the store keeps the tenant's newest ``keep``."""
        self.errors.append(row)
        self.errors_keep[row.tenant] = keep

    # -- folding ---------------------------------------------------------------------

    def merge(self, other: Batch) -> Batch:
        """Fold ``other`` (later changes) into this batch and return it.

        The result means "this batch, then ``other``": a later upsert wins, a
        later delete wins over an earlier upsert, an upsert after a delete wins
        (and the delete still clears what hung off the old row).
        """
        if other.purged_tenants:
            self._purge_tenants(other.purged_tenants)
        if other.purged_objects:
            self._purge_objects(other.purged_objects)
        self.tenants.update(other.tenants)
        self.objects.update(other.objects)
        self.callouts.update(other.callouts)
        self.resets.update(other.resets)
        self.blueprints.update(other.blueprints)
        for version, row in other.versions.items():
            self.versions.setdefault(version, row)
        self.accounts.update(other.accounts)
        self.errors.extend(other.errors)
        self.errors_keep.update(other.errors_keep)
        if other.alive_wall_ms is not None:
            self.alive_wall_ms = other.alive_wall_ms
        return self

    @classmethod
    def merged(cls, batches: Iterable[Batch]) -> Batch:
        """A new batch equal to ``batches`` applied in order (inputs untouched)."""
        result = cls()
        for batch in batches:
            result.merge(batch)
        return result

    # -- purges ----------------------------------------------------------------------

    def _purge_tenants(self, names: set[str]) -> None:
        """Forget this batch's earlier changes to ``names`` and mark them purged."""
        self.purged_tenants |= names
        for name in names:
            self.tenants.pop(name, None)
        self.objects = {k: v for k, v in self.objects.items() if k[0] not in names}
        self.purged_objects = {k for k in self.purged_objects if k[0] not in names}
        self.callouts = {k: v for k, v in self.callouts.items() if k[0] not in names}
        self.resets = {k: v for k, v in self.resets.items() if k[0] not in names}
        self.blueprints = {k: v for k, v in self.blueprints.items() if k[0] not in names}
        self.accounts = {k: v for k, v in self.accounts.items() if k[0] not in names}
        self.errors = [e for e in self.errors if e.tenant not in names]

    def _purge_objects(self, keys: set[ObjectKey]) -> None:
        """Forget this batch's earlier changes to objects ``keys`` and their
        timers, and mark the objects purged."""
        self.purged_objects |= keys
        for key in keys:
            self.objects.pop(key, None)
            self.resets.pop(key, None)
        if self.callouts:
            self.callouts = {
                k: v
                for k, v in self.callouts.items()
                if v is None or (v.tenant, v.object_id) not in keys
            }


@dataclass(slots=True)
class Snapshot:
    """Everything a store holds, as read in one consistent transaction.

    Objects come ordered by tenant, then ``position``: appending each object to
    its environment's contents in this order rebuilds every container's order.
    """

    schema: int
    meta: dict[str, Any]
    tenants: list[TenantRow]
    objects: list[ObjectRow]
    callouts: list[CalloutRow]
    resets: list[ResetRow]
    blueprints: list[BlueprintRow]
    versions: dict[str, bytes]
    accounts: list[Account]
    errors: list[ErrorRow] = field(default_factory=list)

    @property
    def alive_wall_ms(self) -> int | None:
        """When the world was last known running (None: never committed)."""
        value = self.meta.get("alive_wall_ms")
        return value if isinstance(value, int) else None
