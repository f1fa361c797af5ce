"""A fake :class:`driver.tenancy.control.Control` for the admin API's own
tests (the HTTP layer, the listener, the CLI): two tenants and canned
records, with every call recorded so a test can say "nothing was called"."""

from __future__ import annotations

from typing import Any

from driver.tenancy.control import (
    BlueprintVersions,
    CanaryFailure,
    ErrorInfo,
    LogLine,
    PublishResult,
    QuarantineInfo,
    ServerFigures,
    TenantInfo,
    TenantState,
    Usage,
    VersionInfo,
)
from driver.tenancy.errors import BadRequest, NoSuchTenant, NoSuchVersion, TenantExists


class FakeControl:
    """Two tenants, acme and beta; every call is recorded in ``calls``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.names = ["acme", "beta"]
        self.quota_values: dict[str, float] = {
            "max_objects": 1000,
            "max_component_bytes": 1024,
            "call_fuel": 10**6,
        }
        self.publish_error: Exception | None = None

    def _known(self, name: str) -> None:
        if name not in self.names:
            raise NoSuchTenant(name)

    def _info(self, name: str) -> TenantInfo:
        return TenantInfo(
            name, TenantState.ACTIVE, name.title(), "/rooms/start", None, 1.0, 0, 3, 2
        )

    def tenants(self) -> list[TenantInfo]:
        self.calls.append(("tenants", ()))
        return [self._info(n) for n in self.names]

    def tenant(self, name: str) -> TenantInfo:
        self.calls.append(("tenant", (name,)))
        self._known(name)
        return self._info(name)

    async def create_tenant(
        self,
        name: str,
        *,
        title: str | None = None,
        start_room: str | None = None,
        port: int | None = None,
        quotas: dict[str, float] | None = None,
    ) -> TenantInfo:
        self.calls.append(("create_tenant", (name, title, start_room, port, quotas)))
        if name in self.names:
            raise TenantExists(name)
        self.names.append(name)
        return self._info(name)

    async def suspend_tenant(self, name: str, reason: str = "") -> TenantInfo:
        self.calls.append(("suspend_tenant", (name, reason)))
        self._known(name)
        return self._info(name)

    async def resume_tenant(self, name: str) -> TenantInfo:
        self.calls.append(("resume_tenant", (name,)))
        self._known(name)
        return self._info(name)

    async def delete_tenant(self, name: str) -> None:
        self.calls.append(("delete_tenant", (name,)))
        self._known(name)
        self.names.remove(name)

    def quotas(self, name: str) -> dict[str, float]:
        self.calls.append(("quotas", (name,)))
        self._known(name)
        return dict(self.quota_values)

    def set_quotas(self, name: str, changes: dict[str, float]) -> dict[str, float]:
        self.calls.append(("set_quotas", (name, changes)))
        self._known(name)
        if any(v > 10**12 for v in changes.values()):
            raise BadRequest("too big")
        self.quota_values.update(changes)
        return dict(self.quota_values)

    async def publish(
        self, name: str, path: str, data: bytes, *, stage: bool = False, canary: int = 0
    ) -> PublishResult:
        self.calls.append(("publish", (name, path, data, stage, canary)))
        self._known(name)
        if self.publish_error is not None:
            raise self.publish_error
        failures = [CanaryFailure("/rooms/a#1", "trap", "boom")] if canary > 5 else []
        return PublishResult(
            path, "v2", "v1", not stage and not failures, stage, False, 4, canary, failures
        )

    def versions(self, name: str, path: str) -> BlueprintVersions:
        self.calls.append(("versions", (name, path)))
        self._known(name)
        return BlueprintVersions(path, "v1", None, [VersionInfo("v1", 10, 1.0, True, False)])

    def blueprints(self, name: str) -> list[BlueprintVersions]:
        self.calls.append(("blueprints", (name,)))
        self._known(name)
        return [
            BlueprintVersions("/rooms/a", "v1", None, [VersionInfo("v1", 10, 1.0, True, False)])
        ]

    async def activate(self, name: str, path: str, version: str | None = None) -> PublishResult:
        self.calls.append(("activate", (name, path, version)))
        self._known(name)
        if version == "nope":
            raise NoSuchVersion(path, version)
        return PublishResult(path, version or "v0", "v1", True, False, False, 4)

    def usage(self, name: str) -> Usage:
        self.calls.append(("usage", (name,)))
        self._known(name)
        return _usage(name)

    def errors(self, name: str, limit: int = 100) -> list[ErrorInfo]:
        self.calls.append(("errors", (name, limit)))
        self._known(name)
        return [
            ErrorInfo(
                1,
                2.0,
                name,
                "/rooms/a",
                "v1",
                "/rooms/a",
                "heartbeat",
                "fuel",
                "out of fuel",
                "abc",
            )
        ]

    def logs(
        self, name: str, limit: int = 100, *, blueprint: str | None = None, level: str | None = None,
        since: float | None = None,
    ) -> list[LogLine]:
        self.calls.append(("logs", (name, limit)))
        self.log_filters = (blueprint, level, since)
        self._known(name)
        return [LogLine(1.0, "/rooms/a", "info", "hello")]

    def quarantines(self, name: str) -> list[QuarantineInfo]:
        self.calls.append(("quarantines", (name,)))
        self._known(name)
        return [QuarantineInfo("/obj/x#1", "object")]

    def release(self, name: str, target: str) -> list[QuarantineInfo]:
        self.calls.append(("release", (name, target)))
        self._known(name)
        return []

    def set_wizard(self, name: str, account: str, wizard: bool) -> None:
        self.calls.append(("set_wizard", (name, account, wizard)))
        self._known(name)

    def figures(self) -> ServerFigures:
        self.calls.append(("figures", ()))
        return ServerFigures(3, 100, 7, 0.5, 0.01, 60.0, [_usage(n) for n in self.names])

    def called(self, *names: str) -> list[str]:
        """The names of the calls made (of ``names`` only, if given)."""
        return [c for c, _ in self.calls if not names or c in names]


def _usage(name: str) -> Usage:
    return Usage(name, 5000, 10.0, 1e6, 0.25, 4096, 12, 3, 2, 1, 999, 42, {"fuel": 2, "trap": 1})
