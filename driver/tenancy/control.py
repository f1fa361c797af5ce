"""What operators and authors can ask of a server, as typed records and a
protocol: the admin API (:mod:`driver.admin`) is written against
:class:`Control`, and the server's worlds (:mod:`driver.worlds`) implement it.

Plain data only, so the API layer needs nothing of the running world, and a
test can read every answer without a socket. Methods raise the domain errors
of :mod:`driver.tenancy.errors` (``NoSuchTenant``, ``TenantExists``,
``NoSuchBlueprint``, ``NoSuchVersion``, ``QuotaExceeded``, ``BadRequest``)
or the sandbox's ``AdmissionError`` for a component it refuses; the API maps
them to HTTP statuses.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol


class Role(enum.StrEnum):
    """Who holds an API token. Root is the server's operator; a tenant's
    admins manage that tenant (quotas read, tokens, wizards, quarantines);
    its authors publish and read errors, usage and logs."""

    ROOT = "root"
    ADMIN = "admin"
    AUTHOR = "author"


class TenantState(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


@dataclass(frozen=True, slots=True)
class TenantInfo:
    name: str
    state: TenantState
    title: str
    start_room: str
    port: int | None  # a telnet port of its own, if the admin gave it one
    created_at: float
    players_online: int
    objects: int
    blueprints: int
    suspended_reason: str | None = None


@dataclass(frozen=True, slots=True)
class VersionInfo:
    version: str  # content hash
    size: int  # bytes
    published_at: float | None
    current: bool
    staged: bool


@dataclass(frozen=True, slots=True)
class BlueprintVersions:
    path: str
    current: str | None
    staged: str | None
    versions: list[VersionInfo]  # oldest first


@dataclass(frozen=True, slots=True)
class CanaryFailure:
    object_id: str
    kind: str  # an ErrorKind value
    message: str


@dataclass(frozen=True, slots=True)
class PublishResult:
    path: str
    version: str
    previous: str | None
    activated: bool  # the new version is current now
    staged: bool  # kept, not activated (--stage)
    unchanged: bool  # the same bytes were already current
    objects: int  # live objects of the blueprint (they run on-reload before their next hook)
    canary_checked: int = 0
    canary_failures: list[CanaryFailure] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Usage:
    tenant: str
    fuel_used: int  # since the server started
    fuel_per_second: float  # over the last few seconds
    fuel_per_second_quota: float
    fuel_wait_seconds: float  # time timers waited because the tenant was in fuel debt
    memory_bytes: int  # live wasm instances (each charged its cap)
    objects: int
    callouts_pending: int
    connections: int
    players_online: int
    state_bytes: int
    events_run: int
    errors_by_kind: dict[str, int]


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    seq: int
    at: float  # wall clock seconds
    tenant: str
    blueprint: str | None
    version: str | None
    object_id: str
    hook: str
    kind: str
    message: str
    ref: str


@dataclass(frozen=True, slots=True)
class QuarantineInfo:
    target: str  # an object id or a blueprint path
    scope: str  # "object" or "blueprint"


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line guest code logged (``log`` at any level; a Python
    blueprint's ``stdout``/``stderr``), with the blueprint and the version
    that ran (None for the driver's own lines about the world)."""

    at: float
    object_id: str
    level: str
    text: str
    blueprint: str | None = None
    version: str | None = None


@dataclass(frozen=True, slots=True)
class ServerFigures:
    """The server's own figures, for /metrics beside every tenant's usage."""

    sessions: int
    events_run: int  # a counter; Prometheus derives the rate
    commits: int
    commit_seconds_total: float
    commit_last_seconds: float
    uptime_seconds: float
    tenants: list[Usage]


class Control(Protocol):
    """What the admin API can ask. Names are tenants' names; ``path`` is a
    blueprint path (``/rooms/meadow``)."""

    # -- tenants (root) ----------------------------------------------------------
    def tenants(self) -> list[TenantInfo]: ...
    def tenant(self, name: str) -> TenantInfo: ...
    async def create_tenant(
        self, name: str, *, title: str | None = None, start_room: str | None = None,
        port: int | None = None, quotas: dict[str, float] | None = None,
    ) -> TenantInfo: ...  # fmt: skip
    async def suspend_tenant(self, name: str, reason: str = "") -> TenantInfo: ...
    async def resume_tenant(self, name: str) -> TenantInfo: ...
    async def delete_tenant(self, name: str) -> None: ...

    # -- quotas (root sets; the tenant's admins and authors read) -------------------
    def quotas(self, name: str) -> dict[str, float]: ...
    def set_quotas(self, name: str, changes: dict[str, float]) -> dict[str, float]: ...

    # -- publishing (authors) --------------------------------------------------------
    async def publish(
        self, name: str, path: str, data: bytes, *, stage: bool = False, canary: int = 0
    ) -> PublishResult: ...
    def versions(self, name: str, path: str) -> BlueprintVersions: ...
    def blueprints(self, name: str) -> list[BlueprintVersions]: ...
    async def activate(self, name: str, path: str, version: str | None = None) -> PublishResult:
        """Make ``version`` current (a rollback, or activating a staged
        version); None: the version before the current one."""
        ...

    # -- observing -------------------------------------------------------------------
    def usage(self, name: str) -> Usage: ...
    def errors(self, name: str, limit: int = 100) -> list[ErrorInfo]: ...
    def logs(
        self, name: str, limit: int = 100, *, blueprint: str | None = None, level: str | None = None,
        since: float | None = None,
    ) -> list[LogLine]:
        """The newest ``limit`` lines, oldest first, of ``blueprint`` only, at
        ``level`` or above, logged after ``since`` (Unix seconds)."""
        ...
    def quarantines(self, name: str) -> list[QuarantineInfo]: ...
    def release(self, name: str, target: str) -> list[QuarantineInfo]:
        """Lift the quarantine of an object or blueprint; returns what is left."""
        ...

    # -- roles -----------------------------------------------------------------------
    def set_wizard(self, name: str, account: str, wizard: bool) -> None: ...

    # -- the server ------------------------------------------------------------------
    def figures(self) -> ServerFigures: ...
