"""A tenant's limits: per call (the sandbox's :class:`Limits`) and per tenant.

Admins see and set them as one flat map of names to numbers
(:func:`as_flat`, :func:`with_changes`): the per-call limits are named
``call_<field>`` (``call_fuel``, ``call_deadline_ms``, ...), the rest by their
field names. The store keeps the same flat map, so a quota added later reads
back as its default from an older store.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from driver.tenancy.errors import BadRequest
from sandbox.protocol import Limits


@dataclass(slots=True)
class Quotas:
    """A tenant's limits. Admins set them per tenant."""

    limits: Limits = field(default_factory=Limits)
    max_objects: int = 200_000
    max_pending_callouts: int = 100_000
    max_followups_per_event: int = 1_000
    max_zero_delay_per_turn: int = 2_000
    turn_budget_ms: float = 20.0
    reset_interval_ms: float = 15 * 60 * 1000
    reset_jitter: float = 0.1
    min_heartbeat_ms: int = 100
    max_errors_kept: int = 200
    max_queued_events: int = 100_000  # timers and messages waiting to run
    max_pending_commands: int = 32  # per player: more is that player flooding
    # Budgets over time (see driver.tenancy.budgets): a second's rate, per
    # tenant and per object, with budget_burst_seconds of it saved up.
    # 50 million fuel is about 45 ms of guest code on this hardware.
    fuel_per_second: float = 250_000_000
    object_fuel_per_second: float = 100_000_000
    messages_per_second: float = 2_000
    object_messages_per_second: float = 50
    callouts_per_second: float = 1_000
    object_callouts_per_second: float = 50
    clones_per_second: float = 200
    object_clones_per_second: float = 20
    budget_burst_seconds: float = 2.0
    max_state_bytes_per_object: int = 256 * 1024
    max_state_bytes_total: int = 64 * 1024 * 1024
    # Quarantine: an object (or a blueprint) with this many failures or
    # budget hits within the window is stopped until a new version or a
    # wizard releases it.
    quarantine_strikes: int = 10
    quarantine_window_s: float = 30.0
    # The tenant's players and code: connections at once (players online and
    # at its login screen), the largest component an author may publish, and
    # how many versions of each blueprint are kept for rollback.
    max_connections: int = 20_000
    max_component_bytes: int = 16 * 1024 * 1024
    versions_kept: int = 10


CALL_PREFIX = "call_"
_CALL_FIELDS = {f.name: f for f in dataclasses.fields(Limits)}
_TENANT_FIELDS = {f.name: f for f in dataclasses.fields(Quotas) if f.name != "limits"}


def names() -> list[str]:
    """Every quota's flat name, sorted."""
    return sorted([*(CALL_PREFIX + n for n in _CALL_FIELDS), *_TENANT_FIELDS])


def as_flat(quotas: Quotas) -> dict[str, float]:
    """``quotas`` as one flat map (see module docstring)."""
    flat: dict[str, float] = {CALL_PREFIX + n: getattr(quotas.limits, n) for n in _CALL_FIELDS}
    flat.update({n: getattr(quotas, n) for n in _TENANT_FIELDS})
    return dict(sorted(flat.items()))


def _checked(name: str, kind: Any, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequest(f"quota {name} must be a finite number, not {value!r}")
    if value < 0:
        raise BadRequest(f"quota {name} cannot be negative ({value})")
    if kind in (int, "int"):
        if value != int(value):
            raise BadRequest(f"quota {name} must be a whole number, not {value}")
        return int(value)
    return float(value)


def with_changes(quotas: Quotas, changes: Mapping[str, Any], *, strict: bool = True) -> Quotas:
    """A copy of ``quotas`` with ``changes`` (flat names) applied. Raises
    :class:`BadRequest` for an unknown name or a bad value (``strict``), or
    skips them (``strict=False``, for reading a store written by another
    version)."""
    call: dict[str, Any] = {}
    tenant: dict[str, Any] = {}
    for name, value in changes.items():
        try:
            if name.startswith(CALL_PREFIX) and name[len(CALL_PREFIX) :] in _CALL_FIELDS:
                short = name[len(CALL_PREFIX) :]
                call[short] = _checked(name, _CALL_FIELDS[short].type, value)
            elif name in _TENANT_FIELDS:
                tenant[name] = _checked(name, _TENANT_FIELDS[name].type, value)
            else:
                raise BadRequest(f"no such quota: {name}")
        except BadRequest:
            if strict:
                raise
    limits = dataclasses.replace(quotas.limits, **call) if call else quotas.limits
    return dataclasses.replace(quotas, limits=limits, **tenant)


def from_flat(flat: Mapping[str, Any]) -> Quotas:
    """Quotas read back from the store: defaults, then what was kept."""
    return with_changes(Quotas(), flat, strict=False)
