"""What a tenant has used and what went wrong in it, as the admin API's
records (:mod:`driver.tenancy.control`): usage, error records, guest log
lines and quarantines.

Plain reads of the tenant's own counters, so a report costs no event and
changes nothing. Memory is asked of the runtimes that know it
(:class:`~driver.runtimes.ReportsMemory`: the in-process sandbox); a worker
pool's instances live in its workers, which are not asked, so their share
reads as 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from driver.runtimes import ReportsMemory, Runtime
from driver.tenancy.blueprints import Blueprints
from driver.tenancy.budgets import Budgets
from driver.tenancy.control import ErrorInfo, LogLine, QuarantineInfo, Usage
from driver.tenancy.errorlog import ErrorLog
from driver.tenancy.errors import GuestErrorRecord
from driver.tenancy.guestlog import GuestLog
from driver.tenancy.quarantine import Quarantine
from driver.tenancy.quotas import Quotas
from driver.world.objects import Graph
from driver.world.timers import Callouts


class Observed(Protocol):
    """What the reports read of a tenant (the tenant implements it)."""

    name: str
    quotas: Quotas
    budgets: Budgets
    graph: Graph
    callouts: Callouts
    error_log: ErrorLog
    quarantine: Quarantine
    events_run: int
    log: GuestLog
    blueprints: Blueprints


def usage(tenant: Observed, connections: int, players_online: int) -> Usage:
    """The tenant's usage now (see :class:`~driver.tenancy.control.Usage`)."""
    budgets = tenant.budgets
    return Usage(
        tenant=tenant.name,
        fuel_used=budgets.fuel_used,
        fuel_per_second=budgets.fuel_rate(),
        fuel_per_second_quota=tenant.quotas.fuel_per_second,
        fuel_wait_seconds=budgets.fuel_waited_ms / 1000,
        memory_bytes=memory(tenant.name, tenant.blueprints.runtimes.values()),
        objects=len(tenant.graph),
        callouts_pending=len(tenant.callouts),
        connections=connections,
        players_online=players_online,
        state_bytes=state_bytes(tenant),
        events_run=tenant.events_run,
        errors_by_kind=dict(sorted(tenant.error_log.by_kind.items())),
    )


def memory(name: str, runtimes: Iterable[Runtime]) -> int:
    """Memory the runtimes that report it charge tenant ``name``."""
    seen: set[int] = set()
    total = 0
    for runtime in runtimes:
        if id(runtime) not in seen and isinstance(runtime, ReportsMemory):
            seen.add(id(runtime))
            total += runtime.memory_of(name)
    return total


def state_bytes(tenant: Observed) -> int:
    """Bytes of state the tenant's objects hold (keys and values): what the
    budgets know, plus objects no hook has run for since they were loaded."""
    known = tenant.budgets.state_bytes
    total = tenant.budgets.state_total
    for obj in tenant.graph.objects.values():
        if obj.id not in known and obj.blueprint is not None:
            total += sum(len(k) + len(v) for k, v in obj.state.items())
    return total


def error_info(tenant: str, record: GuestErrorRecord) -> ErrorInfo:
    return ErrorInfo(
        seq=record.seq, at=record.at, tenant=tenant, blueprint=record.blueprint,
        version=record.version, object_id=record.object_id, hook=str(record.hook),
        kind=record.kind, message=record.message, ref=record.ref,
    )  # fmt: skip


def error_infos(tenant: Observed, limit: int = 100) -> list[ErrorInfo]:
    """The newest ``limit`` error records, oldest first."""
    records = list(tenant.error_log.records)[-limit:] if limit > 0 else []
    return [error_info(tenant.name, r) for r in records]


def log_lines(tenant: Observed, limit: int = 100) -> list[LogLine]:
    """The newest ``limit`` lines guest code logged, oldest first."""
    return tenant.log.query(limit)


def quarantine_infos(quarantine: Quarantine) -> list[QuarantineInfo]:
    """What is quarantined: blueprints first, then objects, each sorted."""
    return [QuarantineInfo(b, "blueprint") for b in sorted(quarantine.blueprints)] + [
        QuarantineInfo(o, "object") for o in sorted(quarantine.objects)
    ]
